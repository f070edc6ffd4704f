"""`cleanops pipelines run` as a user runs it: a separate process, on the shipped orders pipeline
(CSV with real faults, GE checks and dbt models), through the Dagster code location."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from click.testing import CliRunner

from cleanops.cli.main import cli
from cleanops_tests.cli.helpers import cleanops
from cleanops_tests.transform.helpers import prepared_workspace

REPO = Path(__file__).resolve().parents[2]
PIPELINE = "orders-csv-001"
ROWS_IN_SAMPLE = 301


@pytest.fixture(scope="module")
def orders_workspace(cleanops_database, tmp_path_factory):
    root = tmp_path_factory.mktemp("orders")
    shutil.copytree(REPO / "pipelines" / "data", root / "pipelines" / "data")
    spec = yaml.safe_load((REPO / "pipelines" / "orders_csv.yaml").read_text())
    with prepared_workspace(root, [spec]):  # its own dbt project copy and manifest
        yield root


@pytest.fixture(scope="module")
def first_run(orders_workspace):
    return cleanops("pipelines", "run", PIPELINE, "--json")


@pytest.fixture(scope="module")
def full_refresh_run(first_run):
    """After `first_run` loaded the file, a plain run would skip it (file ledger)."""
    return cleanops("pipelines", "run", PIPELINE, "--full-refresh", "--verbose", "--json")


def test_json_output_is_json_only(first_run):
    assert first_run.returncode == 0, first_run.stderr
    log = json.loads(first_run.stdout)  # the whole of stdout, nothing before or after
    assert log["pipeline_id"] == PIPELINE and log["status"] == "success"
    assert log["metrics"]["records_extracted"] == ROWS_IN_SAMPLE


def test_execution_log_has_the_loads_errors_and_later_steps(first_run, dagster_instance):
    log = json.loads(first_run.stdout)
    assert log["metrics"]["records_processed"] + log["metrics"]["records_failed"] == ROWS_IN_SAMPLE
    assert {e["error_code"] for e in log["errors"]} >= {"MALFORMED_ROW", "INVALID_ENCODING", "DUPLICATE_KEY"}
    steps = [s["step"] for s in log["steps"]]
    assert steps[:3] == ["data_extraction", "validation", "data_loading"]
    assert "transformation" in steps  # the dbt step, timed by Dagster
    assert all(s["started_at"] <= s["completed_at"] for s in log["steps"])


def test_cli_run_has_a_code_location_origin(first_run, dagster_instance):
    run = dagster_instance.get_run_by_id(json.loads(first_run.stdout)["execution_id"])
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.remote_job_origin is not None, "the job's Runs tab lists only runs with a code location origin"
    assert run.remote_job_origin.location_name == "cleanops"
    assert run.job_name == "orders_csv_001" and run.tags["cleanops/trigger"] == "cli"


def test_run_output_shows_progress_not_debug_events(first_run):
    progress = first_run.stderr
    assert "loading staging.orders_csv_001__orders_export" in progress
    assert f"read {ROWS_IN_SAMPLE}" in progress
    assert "done    loading staging.orders_csv_001__orders_export" in progress
    for event_dump in ("DEBUG", "STEP_START", "pid", "Executing steps"):
        assert event_dump not in progress
    assert len(progress.splitlines()) < 30


def test_full_refresh_runs_on_a_pipeline_with_dbt_models_and_checks(full_refresh_run, dagster_instance):
    assert "DagsterInvalidConfigError" not in full_refresh_run.stderr
    assert full_refresh_run.returncode == 0, full_refresh_run.stderr[-3000:]
    log = json.loads(full_refresh_run.stdout)
    assert log["status"] == "success"
    assert log["metrics"]["records_extracted"] == ROWS_IN_SAMPLE  # the file loaded again
    assert "quality_checks" in {step["step"] for step in log["steps"]}
    run = dagster_instance.get_run_by_id(log["execution_id"])
    assert run.run_config["ops"].keys() == {"staging__orders_csv_001__orders_export"}


def test_full_refresh_replaces_what_earlier_loads_staged(first_run, full_refresh_run, warehouse):
    """A refresh reads the whole source again: its rows replace the earlier load's, never doubling them."""
    staged = json.loads(full_refresh_run.stdout)["metrics"]["records_processed"]
    assert staged == json.loads(first_run.stdout)["metrics"]["records_processed"]
    with warehouse.connect() as conn:
        rows = conn.exec_driver_sql("SELECT count(*) FROM staging.orders_csv_001__orders_export").scalar()
        new_quarantine = conn.exec_driver_sql(
            "SELECT count(*) FROM quarantine.orders_csv_001__orders_export WHERE status = 'new'").scalar()
    assert rows == staged
    assert new_quarantine == json.loads(full_refresh_run.stdout)["metrics"]["records_failed"]


def test_verbose_prints_the_full_event_log(full_refresh_run):
    assert "STEP_START" in full_refresh_run.stderr and "RUN_SUCCESS" in full_refresh_run.stderr


def test_unknown_pipeline_is_named_with_the_known_ones(orders_workspace):
    result = CliRunner().invoke(cli, ["pipelines", "run", "unknown"])
    assert result.exit_code == 1
    assert "no pipeline named 'unknown'; known: orders-csv-001" in result.output
    assert "Traceback" not in result.output and "KeyError" not in result.output


def test_summary_reads_as_sentences(first_run):
    run_id = json.loads(first_run.stdout)["execution_id"]
    table = cleanops("runs", "show", run_id, "--pipeline", PIPELINE)
    assert table.returncode == 0, table.stderr
    assert f"{PIPELINE} run {run_id}: success\n" in table.stdout
    assert "materialized_assets 0" not in table.stdout
    assert "MALFORMED_ROW" in table.stdout
