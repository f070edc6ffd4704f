"""Real pipeline runs: an `error` rule that fails stops the dbt models downstream; a `warn`
rule that fails is recorded and the run goes on; history grows one row per rule per run."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from click.testing import CliRunner

from cleanops.scheduling.launch import run_pipeline
from cleanops_tests.conftest import unique_id
from cleanops_tests.transform.helpers import environment, prepared_workspace, rows, table_exists

pytestmark = pytest.mark.server_matrix

CSV = "id,country,amount\n1,DE,10\n2,FR,20\n3,XX,30\n"


def spec(pipeline_id: str, table: str, rules: list[dict]) -> dict:
    return {"pipeline_id": pipeline_id,
            "data_sources": [{"id": "orders", "type": "csv", "path": "orders.csv"}],
            "transformations": [{"type": "validation", "config": {"required_fields": ["id"],
                                                                  "data_types": {"id": "integer"}}},
                                {"type": "cleansing", "config": {"case": {"country": "lower"}}}],
            "destinations": [{"connection": "analytics-dw", "table": table}],
            "quality": {"rules": rules}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cleanops_database, dagster_instance):
    suffix = unique_id("q").split("-")[1]
    blocked = spec(f"blocked-{suffix}", f"blocked_{suffix}", [
        {"name": "enough_rows", "type": "row_count", "min": 1000},
        {"type": "allowed_values", "column": "country", "values": ["DE", "FR"], "severity": "warn"}])
    warned = spec(f"warned-{suffix}", f"warned_{suffix}", [
        {"type": "allowed_values", "column": "country", "values": ["DE", "FR"], "severity": "warn"},
        {"type": "not_null", "column": "country", "table": f"warned_{suffix}"}])
    replayable = spec(f"replayable-{suffix}", f"replayable_{suffix}", [])
    replayable["transformations"][0]["config"]["ranges"] = {"amount": {"max": 25}}  # amount stays text: no GE range
    root = tmp_path_factory.mktemp("blocking")
    (root / "pipelines").mkdir()
    (root / "pipelines" / "orders.csv").write_text(CSV)
    with prepared_workspace(root, [blocked, warned, replayable]) as result:
        outcome = {"suffix": suffix, "blocked": run_pipeline(blocked["pipeline_id"], instance=dagster_instance),
                   "warned": [run_pipeline(warned["pipeline_id"], instance=dagster_instance)],
                   "replayable": run_pipeline(replayable["pipeline_id"], instance=dagster_instance),
                   "ids": (blocked["pipeline_id"], warned["pipeline_id"], replayable["pipeline_id"]),
                   "root": root, "replayable_spec": replayable}
        (root / "pipelines" / "orders.csv").write_text(CSV + "4,DE,40\n")  # a new file version loads again
        outcome["warned"].append(run_pipeline(warned["pipeline_id"], instance=dagster_instance))
        yield outcome


def test_failing_blocking_check_stops_the_downstream_models(runs, warehouse, dagster_instance):
    suffix = runs["suffix"]
    assert not runs["blocked"].success
    assert table_exists(warehouse, f"staging.blocked_{suffix}__orders")
    assert not table_exists(warehouse, f"marts.blocked_{suffix}")
    assert not table_exists(warehouse, f"transform.blocked_{suffix}__s02_cleansing")
    assert dagster_instance.get_latest_materialization_event(dg.AssetKey(["marts", f"blocked_{suffix}"])) is None
    evaluations = {e.check_name: e for e in _check_evaluations(dagster_instance, runs["blocked"].run_id)}
    assert evaluations["enough_rows"].passed is False
    assert evaluations["enough_rows"].severity == dg.AssetCheckSeverity.ERROR


def test_failing_warning_check_is_recorded_and_the_run_goes_on(runs, warehouse, dagster_instance):
    suffix = runs["suffix"]
    assert all(run.success for run in runs["warned"])
    assert rows(warehouse, f"SELECT count(*) AS n FROM marts.warned_{suffix}")[0]["n"] == 7
    evaluations = {e.check_name: e for e in _check_evaluations(dagster_instance, runs["warned"][0].run_id)}
    assert evaluations["allowed_values_country"].passed is False
    assert evaluations["allowed_values_country"].severity == dg.AssetCheckSeverity.WARN
    assert evaluations["not_null_country"].passed is True  # GE rule on the dbt destination


def test_history_grows_one_row_per_rule_per_run(runs, warehouse):
    pipeline_id = runs["ids"][1]
    per_rule = rows(warehouse, "SELECT asset_key, rule_name, count(*) AS n, count(DISTINCT run_id) AS runs "
                               "FROM cleanops.quality_results WHERE pipeline_id = :p GROUP BY 1, 2", p=pipeline_id)
    # staging: required_id + allowed_values_country; destination: GE not_null + dbt not_null test
    assert len(per_rule) == 4
    assert all(r["n"] == r["runs"] == 2 for r in per_rule)
    blocked = rows(warehouse, "SELECT rule_name, success, observed_value FROM cleanops.quality_results "
                              "WHERE pipeline_id = :p", p=runs["ids"][0])
    assert {r["rule_name"]: r["success"] for r in blocked} == {
        "required_id": True, "enough_rows": False, "allowed_values_country": False}
    assert [r["observed_value"] for r in blocked if r["rule_name"] == "enough_rows"] == [3]


def test_quality_report_shows_latest_result_and_trend(runs):
    from cleanops.cli.main import cli

    with environment(CLEANOPS_PIPELINES_DIR=str(runs["root"] / "pipelines")):
        result = CliRunner().invoke(cli, ["quality", "report", runs["ids"][1], "--json"])
        table = CliRunner().invoke(cli, ["quality", "report", runs["ids"][1]])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    entry = {(e["asset"], e["rule"]): e for e in report["rules"]}[
        (f"staging/warned_{runs['suffix']}__orders", "allowed_values_country")]
    assert entry["trend"] == [False, False] and entry["latest"]["unexpected_count"] == 2
    assert table.exit_code == 0 and "allowed_values_country" in table.output


def _check_evaluations(instance, run_id: str):
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    return [r.event_log_entry.dagster_event.event_specific_data for r in records]


def test_quarantine_replay_carries_rows_through_dbt(runs, warehouse):
    from cleanops.cli.main import cli
    from cleanops_tests.transform.helpers import write_spec

    suffix, pipeline_id = runs["suffix"], runs["ids"][2]
    assert runs["replayable"].success
    assert rows(warehouse, f"SELECT count(*) AS n FROM marts.replayable_{suffix}")[0]["n"] == 2  # 30 > max 25
    changed = runs["replayable_spec"]
    changed["transformations"][0]["config"]["ranges"] = {"amount": {"max": 100}}
    write_spec(runs["root"] / "pipelines", changed)
    result = CliRunner().invoke(cli, ["quarantine", "replay", pipeline_id, "--by", "test"])
    assert result.exit_code == 0, result.output
    assert "moved to staging 1" in result.output and "success" in result.output
    ids = [r["id"] for r in rows(warehouse, f"SELECT id FROM marts.replayable_{suffix} ORDER BY id")]
    assert ids == [1, 2, 3]
