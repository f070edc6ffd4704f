"""`cleanops cleanup`: dry run, run (confirmation), JSON, history, restore, policies, exit codes."""

from __future__ import annotations

import json

import sqlalchemy as sa
from click.testing import CliRunner

from cleanops.cli.cleanup import _database_url
from cleanops.cli.main import cli
from cleanops_tests.cleanup.helpers import file_policy, make_file, snapshot, table_policy
from cleanops_tests.conftest import unique_id


def _invoke(*args, input=None):
    return CliRunner().invoke(cli, ["cleanup", *args], input=input, catch_exceptions=False)


def test_dry_run_run_history_restore_round_trip(warehouse, tmp_path):
    root = tmp_path / "root"
    for i in range(5):
        make_file(root / f"f{i}.log", bytes([i]) * 100)
    before = snapshot(root)
    data_type = file_policy(warehouse, root)

    dry = _invoke("--dry-run", "--data-type", data_type, "--json")
    assert dry.exit_code == 0, dry.output
    listing = json.loads(dry.output)
    assert listing["candidate_count"] == 5
    assert all(c["reason"] for c in listing["candidates"])

    refused = _invoke("--run", "--data-type", data_type)  # not a terminal and no --yes
    assert refused.exit_code == 2 and "--yes" in refused.output
    assert snapshot(root) == before

    run = _invoke("--run", "--yes", "--data-type", data_type, "--json")
    assert run.exit_code == 0, run.output
    done = json.loads(run.output)
    assert done["metrics"]["files_removed"] == 5 and done["verification"]["ok"]
    assert snapshot(root) == {}

    history = json.loads(_invoke("--json", "history").output)
    assert done["cleanup_id"] in {h["cleanup_id"] for h in history}
    actions = json.loads(_invoke("--json", "history", done["cleanup_id"]).output)
    assert {a["action"] for a in actions} == {"deleted"} and len(actions) == 5

    restored = _invoke("--json", "restore", done["cleanup_id"])
    assert restored.exit_code == 0, restored.output
    assert json.loads(restored.output)["files_restored"] == 5
    assert snapshot(root) == before

    text = _invoke("--dry-run", "--data-type", data_type)
    assert "5 objects would be deleted" in text.output


def test_policy_set_config_and_unsafe_pattern(warehouse, tmp_path):
    data_type = unique_id("cli").replace("-", "_")
    created = _invoke("policy", "set", data_type, "--kind", "files", "--retention-days", "3",
                      "--root", str(tmp_path), "--pattern", "*.tmp")
    assert created.exit_code == 0, created.output
    changed = _invoke("policy", "set", data_type, "--retention-days", "10", "--disable")
    assert changed.exit_code == 0, changed.output
    config = {p["data_type"]: p for p in json.loads(_invoke("--config", "--json").output)}
    assert config[data_type]["retention_days"] == 10 and config[data_type]["enabled"] is False
    assert config[data_type]["patterns"] == ["*.tmp"]
    assert {"pipeline_operations", "dbt_logs", "temp_files", "cleanup_backups"} <= set(config)
    unsafe = _invoke("policy", "set", data_type, "--pattern", "../../etc/*")
    assert unsafe.exit_code == 1 and ".." in unsafe.output
    absolute = _invoke("policy", "set", data_type, "--pattern", "/etc/passwd")
    assert absolute.exit_code == 1 and "absolute" in absolute.output


def test_exit_code_non_zero_when_an_action_fails(warehouse):
    table = unique_id("q").replace("-", "_")
    with warehouse.begin() as conn:
        conn.execute(sa.text(f"""CREATE TABLE quarantine."{table}" (quarantine_id bigserial PRIMARY KEY,
            batch_id text, raw_record jsonb, status text, reviewed_at timestamptz)"""))
        conn.execute(sa.text(f"""INSERT INTO quarantine."{table}" (batch_id, raw_record, status, reviewed_at)
            VALUES ('b', '{{}}', 'accepted', now() - interval '90 days')"""))
        conn.execute(sa.text(f"""CREATE FUNCTION quarantine."{table}_refuse"() RETURNS trigger LANGUAGE plpgsql
            AS $$ BEGIN RAISE EXCEPTION 'deletes refused by a trigger'; END $$"""))
        conn.execute(sa.text(f"""CREATE TRIGGER refuse BEFORE DELETE ON quarantine."{table}"
            FOR EACH ROW EXECUTE FUNCTION quarantine."{table}_refuse"()"""))
    data_type = table_policy(warehouse, "quarantine", table)
    result = _invoke("--run", "--yes", "--data-type", data_type, "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["metrics"]["failed"] == 1
    with warehouse.connect() as conn:
        assert conn.scalar(sa.text(f'SELECT count(*) FROM quarantine."{table}"')) == 1


def test_stats_and_db_options(warehouse):
    stats = _invoke("--stats", "--json")
    assert stats.exit_code == 0 and "objects_deleted" in json.loads(stats.output)
    url = _database_url("db.example", 5433, "dagster", "dagster", "s3cret", None)
    assert url == "postgresql+psycopg://dagster:s3cret@db.example:5433/dagster"
    assert _database_url(None, None, None, None, None, None) is None
    assert _database_url(None, None, None, None, None, "postgresql://x/y") == "postgresql://x/y"


def test_emergency_type_halves_retention_in_the_preview(warehouse, tmp_path):
    root = tmp_path / "root"
    make_file(root / "six_days.log", age_days=6)
    data_type = file_policy(warehouse, root, days=10)
    normal = json.loads(_invoke("--dry-run", "--data-type", data_type, "--json").output)
    emergency = json.loads(_invoke("--dry-run", "--type", "emergency", "--emergency-factor", "0.5",
                                   "--data-type", data_type, "--json").output)
    assert normal["candidate_count"] == 0 and emergency["candidate_count"] == 1
    assert emergency["archive"] is True  # backups stay on unless --skip-backups


def test_db_options_reach_the_named_server(warehouse, tmp_path):
    """--db-host/--db-port/--db-user/--db-name in a child process (they set the process environment)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from cleanops.db import connection

    target = connection.configured_target()
    params = target.libpq_params()
    env = {k: v for k, v in os.environ.items() if k != "CLEANOPS_DATABASE_URL"}
    if params["password"]:
        env["CLEANOPS_DB_PASSWORD"] = str(params["password"])
    data_type = file_policy(warehouse, tmp_path, days=42)
    output = subprocess.run(
        [str(Path(sys.executable).parent / "cleanops"), "cleanup", "--db-host", str(params["host"]),
         "--db-port", str(params["port"]), "--db-user", str(params["user"]), "--db-name", target.warehouse_database,
         "--config", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert output.returncode == 0, output.stderr
    assert {p["data_type"]: p["retention_days"] for p in json.loads(output.stdout)}[data_type] == 42


def test_run_shows_progress_on_stderr_and_keeps_stdout_for_the_result(warehouse, tmp_path):
    root = tmp_path / "root"
    for i in range(30):
        make_file(root / f"f{i}.log", b"x" * 10)
    data_type = file_policy(warehouse, root)
    result = CliRunner().invoke(cli, ["cleanup", "--run", "--yes", "--data-type", data_type, "--batch-size", "7"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    progress = result.stderr.splitlines()
    assert progress[0].endswith("cleanup: archiving, deleting and verifying"), progress
    assert progress[-1].endswith("cleanup: archiving, deleting and verifying 30/30: processed 30"), progress
    assert len(progress) < 10  # a line when something changes or every few seconds, never one per object
    assert "archiving, deleting" not in result.stdout
