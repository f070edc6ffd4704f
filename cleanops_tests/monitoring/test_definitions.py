"""The `cleanops_metrics` asset, its job and schedule, and CLEANOPS_METRICS_INTERVAL_MINUTES."""

import dagster as dg
import pytest
import sqlalchemy as sa

from cleanops import settings
from cleanops.monitoring import definitions, store
from cleanops.monitoring.snapshot import GROUPS


def _history_rows(warehouse, run_id):
    with warehouse.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM cleanops.metrics_history WHERE run_id = :id"),
                            {"id": run_id}).mappings().all()


def test_the_job_materializes_the_asset_and_writes_one_history_row(warehouse, dagster_instance):
    job = definitions.build().resolve_job_def("collect_metrics")
    result = job.execute_in_process(instance=dagster_instance)
    assert result.success
    materialization = result.asset_materializations_for_node("cleanops_metrics")[0]
    metadata = materialization.metadata
    for name in ("cpu_usage_percent", "memory_usage_percent", "total_executions_24h", "success_rate_percent",
                 "files_removed", "storage_reclaimed_gb", "active_pipelines", "queued_tasks"):
        assert isinstance(metadata[name], (dg.FloatMetadataValue, dg.IntMetadataValue)), name
    rows = _history_rows(warehouse, result.run_id)
    assert len(rows) == 1 and rows[0]["metrics_id"] == metadata["metrics_id"].value
    assert rows[0]["window_seconds"] == 86400
    assert rows[0]["system_metrics"]["memory_usage_percent"] == metadata["memory_usage_percent"].value
    assert set(rows[0]["pipeline_metrics"]) >= {"total_executions_24h", "p95_execution_time_seconds"}
    assert all(rows[0][group] for group in GROUPS)
    assert any(row["run_id"] == result.run_id for row in store.history(warehouse, limit=5))
    latest = dagster_instance.get_latest_materialization_event(definitions.ASSET_KEY)
    assert latest.run_id == result.run_id


def test_the_asset_materializes_alone_with_its_own_window(warehouse, dagster_instance):
    result = dg.materialize([definitions.cleanops_metrics], instance=dagster_instance,
                            run_config={"ops": {"cleanops_metrics": {"config": {"window_hours": 1}}}})
    assert result.success
    assert _history_rows(warehouse, result.run_id)[0]["window_seconds"] == 3600


def test_schedule_every_five_minutes_stopped_by_default(monkeypatch):
    monkeypatch.delenv("CLEANOPS_METRICS_INTERVAL_MINUTES", raising=False)
    defs = definitions.build()
    schedule = defs.resolve_schedule_def(definitions.SCHEDULE_NAME)
    assert schedule.cron_schedule == "*/5 * * * *" and schedule.job_name == "collect_metrics"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert defs.resolve_assets_def(definitions.ASSET_KEY).group_names_by_key[definitions.ASSET_KEY] == "monitoring"


@pytest.mark.parametrize(("value", "cron"), [("1", "*/1 * * * *"), ("15", "*/15 * * * *"), ("120", "0 */2 * * *"),
                                             (" 30 ", "*/30 * * * *")])
def test_the_interval_setting(monkeypatch, value, cron):
    monkeypatch.setenv("CLEANOPS_METRICS_INTERVAL_MINUTES", value)
    assert definitions.build_schedule().cron_schedule == cron


@pytest.mark.parametrize("value", ["0", "-5", "90", "abc", "2.5", "1441", "1500", "²", "٥"])
def test_a_bad_interval_names_the_variable_and_loading_falls_back(monkeypatch, value, caplog):
    monkeypatch.setenv("CLEANOPS_METRICS_INTERVAL_MINUTES", value)
    with pytest.raises(ValueError, match="CLEANOPS_METRICS_INTERVAL_MINUTES"):
        settings.metrics_interval_minutes()
    assert definitions.build_schedule().cron_schedule == "*/5 * * * *"
    assert "CLEANOPS_METRICS_INTERVAL_MINUTES" in caplog.text


def test_building_the_definitions_touches_no_database_and_measures_nothing(monkeypatch):
    import psutil

    import cleanops.warehouse
    from cleanops.db import connection

    def refuse(*args, **kwargs):
        raise AssertionError("I/O while loading the definitions")

    monkeypatch.setattr(cleanops.warehouse, "warehouse_engine", refuse)
    monkeypatch.setattr(connection, "ensure_database", refuse)
    monkeypatch.setattr(psutil, "cpu_percent", refuse)
    monkeypatch.setattr(psutil, "disk_usage", refuse)
    assert definitions.build().resolve_job_def("collect_metrics")


def test_the_alerts_sensor_runs_every_30_seconds_by_default():
    sensor = definitions.build().resolve_sensor_def(definitions.ALERTS_SENSOR)
    assert sensor.minimum_interval_seconds == 30
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
