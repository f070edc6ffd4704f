"""`cleanops status`: the overview's counts against real runs on the PostgreSQL instance."""

import json

import dagster as dg
import sqlalchemy as sa
from click.testing import CliRunner

from cleanops.cli.main import cli
from cleanops.monitoring.status import active_alerts, overview
from cleanops.scheduling import control
from cleanops.scheduling.policy import PIPELINE_TAG
from cleanops_tests.conftest import unique_id
from cleanops_tests.monitoring.helpers import csv_pipeline, run, run_pipeline

CRON = {"type": "cron", "expression": "0 3 * * *", "timezone": "UTC"}
KEYS = {"timestamp", "window_seconds", "counts", "performance", "recent_executions", "active_alerts"}


def _add_run(instance, status, pipeline_id):
    run_id = unique_id("status-run")
    instance.add_run(dg.DagsterRun(job_name="monitoring_test_job", run_id=run_id, status=status,
                                   tags={PIPELINE_TAG: pipeline_id}))
    return run_id


def test_counts_match_the_runs_made(warehouse, dagster_instance, pipelines_dir, make_pipeline):
    pipeline = csv_pipeline(pipelines_dir, make_pipeline, unique_id("status"), CRON)
    pipeline_id = pipeline.spec.pipeline_id
    before = overview(dagster_instance, warehouse)
    assert run_pipeline(pipeline, dagster_instance).success
    assert not run(dagster_instance, fail=True, tags={PIPELINE_TAG: pipeline_id}).success
    queued = control.trigger_run(pipeline_id, instance=dagster_instance)  # no daemon in the tests: it stays queued
    added = [queued.run_id, _add_run(dagster_instance, dg.DagsterRunStatus.STARTED, pipeline_id)]
    try:
        after = overview(dagster_instance, warehouse)
    finally:
        for run_id in added:
            dagster_instance.delete_run(run_id)
    delta = {key: after["counts"][key] - before["counts"][key] for key in after["counts"]}
    assert delta == {"running": 1, "queued": 1, "scheduled": 0, "failed": 1, "completed": 1, "canceled": 0}
    assert after["counts"]["scheduled"] == 1  # the folder's one pipeline, its cron schedule running
    assert after["performance"]["total_executions_24h"] - before["performance"]["total_executions_24h"] == 2
    assert after["performance"]["records_processed"] - before["performance"]["records_processed"] == 20
    assert after["performance"]["data_processed_mb"] > before["performance"]["data_processed_mb"]
    [line] = after["recent_executions"]
    assert (line["pipeline_id"], line["status"], line["run_id"]) == (pipeline_id, "started", added[1])
    assert line["next_run"] == control.next_runs(pipeline, 1)[0].isoformat().replace("+00:00", "Z")
    assert line["next_run"].endswith("T03:00:00Z") and line["trigger"] == "cron"
    assert after["active_alerts"] == active_alerts(warehouse)


def test_a_pipeline_never_run_and_not_scheduled(warehouse, dagster_instance, pipelines_dir, make_pipeline):
    pipeline = csv_pipeline(pipelines_dir, make_pipeline, unique_id("idle"))
    [line] = overview(dagster_instance, warehouse)["recent_executions"]
    assert line["pipeline_id"] == pipeline.spec.pipeline_id
    assert line["status"] is line["run_id"] is line["last_run"] is line["next_run"] is line["duration_seconds"] is None
    assert line["trigger"] == "manual"


def test_status_json_and_table(cleanops_database, pipelines_dir, make_pipeline):
    pipeline = csv_pipeline(pipelines_dir, make_pipeline, unique_id("status-cli"), CRON)
    result = CliRunner().invoke(cli, ["status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == KEYS and data["window_seconds"] == 86400
    assert set(data["counts"]) == {"running", "queued", "scheduled", "failed", "completed", "canceled"}
    assert isinstance(data["active_alerts"], list)
    assert [line["pipeline_id"] for line in data["recent_executions"]] == [pipeline.spec.pipeline_id]
    table = CliRunner().invoke(cli, ["status"])
    assert table.exit_code == 0, table.output
    for words in ("running", "queued", "scheduled", "success rate", pipeline.spec.pipeline_id, "active alerts"):
        assert words in table.output


def test_active_alerts_reads_active_and_acknowledged_rows(warehouse):
    with warehouse.connect() as conn:
        exists = conn.scalar(sa.text("SELECT to_regclass('cleanops.alerts')")) is not None
    if exists:  # the alerting area's table: whatever it holds, only live alerts come back
        assert all(alert["status"] in ("active", "acknowledged") for alert in active_alerts(warehouse))
        return
    assert active_alerts(warehouse) == []
    try:
        with warehouse.begin() as conn:
            conn.execute(sa.text("CREATE TABLE cleanops.alerts (alert_id serial PRIMARY KEY, rule text, "
                                 "status text, last_seen timestamptz)"))
            conn.execute(sa.text("INSERT INTO cleanops.alerts (rule, status, last_seen) VALUES "
                                 "('run_failure', 'active', now() - interval '1 hour'), "
                                 "('slow_run', 'acknowledged', now()), ('overdue', 'resolved', now())"))
        alerts = active_alerts(warehouse)
    finally:
        with warehouse.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS cleanops.alerts"))
    assert [(a["rule"], a["status"]) for a in alerts] == [("slow_run", "acknowledged"), ("run_failure", "active")]
    assert alerts[0]["last_seen"].endswith("Z")


def test_status_as_a_user_runs_it(cleanops_database, pipelines_dir, make_pipeline):
    from cleanops_tests.cli.helpers import cleanops

    pipeline = csv_pipeline(pipelines_dir, make_pipeline, unique_id("status-proc"), CRON)
    result = cleanops("status", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == KEYS and data["active_alerts"] == active_alerts_now()
    [line] = data["recent_executions"]
    assert line["pipeline_id"] == pipeline.spec.pipeline_id and line["next_run"].endswith("T03:00:00Z")


def active_alerts_now():
    from cleanops.warehouse import warehouse_engine

    return active_alerts(warehouse_engine())
