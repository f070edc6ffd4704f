"""`cleanops pipelines run` goes through the persistent Dagster instance; `runs show` prints its log."""

import json
import shutil
from pathlib import Path

import dagster as dg
import yaml
from click.testing import CliRunner

from cleanops.cli.main import cli
from cleanops.ingestion.assets import retry_policy_for
from cleanops.pipelines.loader import load_file
from cleanops_tests.transform.helpers import prepared_workspace

REPO = Path(__file__).resolve().parents[2]


def test_run_shows_in_the_instance_and_prints_the_execution_log(tmp_path, dagster_instance):
    spec = yaml.safe_load((REPO / "pipelines" / "orders_csv.yaml").read_text())
    shutil.copytree(REPO / "pipelines" / "data", tmp_path / "pipelines" / "data")
    runner = CliRunner()
    with prepared_workspace(tmp_path, [spec]):  # its own dbt project copy and manifest
        result = runner.invoke(cli, ["pipelines", "run", "orders-csv-001", "--json"], catch_exceptions=False)
        table = runner.invoke(cli, ["runs", "show", "latest", "--pipeline", "orders-csv-001"])
    assert result.exit_code == 0, result.output
    log = json.loads(result.output[result.output.index("{"):])
    assert log["pipeline_id"] == "orders-csv-001" and log["status"] == "success"
    assert log["metrics"]["records_extracted"] == 301
    assert log["metrics"]["records_processed"] + log["metrics"]["records_failed"] == 301
    assert {e["error_code"] for e in log["errors"]} >= {"MALFORMED_ROW", "INVALID_ENCODING", "DUPLICATE_KEY"}
    steps = [s["step"] for s in log["steps"]]
    assert steps[:3] == ["data_extraction", "validation", "data_loading"]
    assert "transformation" in steps  # the dbt step, timed by Dagster
    assert all(s["started_at"] <= s["completed_at"] for s in log["steps"])
    record = dagster_instance.get_run_record_by_id(log["execution_id"])
    assert record is not None and record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    assert table.exit_code == 0 and "MALFORMED_ROW" in table.output


def test_retry_policy_maps_to_dagster(tmp_path):
    seed = load_file(REPO / "pipelines" / "user_data_etl.json")[0]
    policy = retry_policy_for(seed)
    assert policy.max_retries == 3 and policy.delay == 60 and policy.backoff == dg.Backoff.EXPONENTIAL
