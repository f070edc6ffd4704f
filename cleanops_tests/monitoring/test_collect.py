"""One collection on a real Dagster instance and the real warehouse."""

from datetime import timedelta

import dagster as dg
import pytest

from cleanops.monitoring import pipelines
from cleanops.monitoring.collect import collect
from cleanops_tests.conftest import unique_id
from cleanops_tests.ingestion.helpers import materialize_pipeline
from cleanops_tests.monitoring.helpers import run

SAMPLE = 0.05


def test_an_instance_with_no_runs_gives_zeros(warehouse):
    with dg.instance_for_test() as instance:
        snapshot = collect(instance, warehouse, sample_seconds=SAMPLE)
    p = snapshot.pipeline_metrics
    assert p["total_executions_24h"] == p["successful_executions_24h"] == p["failed_executions_24h"] == 0
    assert p["success_rate_percent"] == p["avg_execution_time_seconds"] == p["p95_execution_time_seconds"] == 0.0
    assert p["total_data_processed_gb"] == 0.0 and p["records_processed"] == 0 and p["queued_runs"] == 0
    assert snapshot.system_metrics["active_pipelines"] == snapshot.system_metrics["queued_tasks"] == 0
    assert 0 <= snapshot.system_metrics["cpu_usage_percent"] <= 100
    assert 0 < snapshot.system_metrics["memory_usage_percent"] <= 100
    assert snapshot.system_metrics["disk_usage_percent"] is not None


def test_counts_match_real_runs(warehouse, monkeypatch):
    monkeypatch.setattr(pipelines, "PAGE", 2)  # the paging, with few runs
    with dg.instance_for_test() as instance:
        results = [run(instance), run(instance), run(instance, fail=True), run(instance)]
        assert [r.success for r in results] == [True, True, False, True]
        p = collect(instance, warehouse, sample_seconds=SAMPLE).pipeline_metrics
        records = instance.get_run_records()
    assert (p["total_executions_24h"], p["successful_executions_24h"], p["failed_executions_24h"]) == (4, 3, 1)
    assert p["success_rate_percent"] == 75.0
    durations = sorted(r.end_time - r.start_time for r in records)
    assert p["avg_execution_time_seconds"] == pytest.approx(sum(durations) / 4, abs=1e-3)
    assert p["p95_execution_time_seconds"] == pytest.approx(durations[-1], abs=1e-3)


def test_runs_outside_the_window_are_not_counted(warehouse):
    with dg.instance_for_test() as instance:
        run(instance)
        p = collect(instance, warehouse, timedelta(seconds=1), sample_seconds=SAMPLE).pipeline_metrics
        assert p["total_executions_24h"] in (0, 1)  # created within the last second or not
        later = collect(instance, warehouse, timedelta(hours=1), sample_seconds=SAMPLE).pipeline_metrics
        assert later["total_executions_24h"] == 1


def test_the_persistent_instance_counts_new_runs(warehouse, dagster_instance):
    before = collect(dagster_instance, warehouse, sample_seconds=SAMPLE).pipeline_metrics
    run(dagster_instance)
    run(dagster_instance, fail=True)
    after = collect(dagster_instance, warehouse, sample_seconds=SAMPLE).pipeline_metrics
    assert after["total_executions_24h"] - before["total_executions_24h"] == 2
    assert after["successful_executions_24h"] - before["successful_executions_24h"] == 1
    assert after["failed_executions_24h"] - before["failed_executions_24h"] == 1


def test_in_progress_runs_are_active_pipelines_except_the_metrics_job(warehouse):
    with dg.instance_for_test() as instance:
        for pipeline in ("p1", "p1", "p2"):
            instance.add_run(dg.DagsterRun(job_name="monitoring_test_job", run_id=unique_id("r"),
                                           status=dg.DagsterRunStatus.STARTED, tags={"cleanops/pipeline": pipeline}))
        instance.add_run(dg.DagsterRun(job_name=pipelines.MONITORING_JOB, run_id=unique_id("r"),
                                       status=dg.DagsterRunStatus.STARTED))
        snapshot = collect(instance, warehouse, sample_seconds=SAMPLE)
    assert snapshot.system_metrics["active_pipelines"] == 2  # p1 and p2; the metrics job is not a pipeline


def test_a_triggered_run_is_a_queued_task(warehouse, dagster_instance, make_pipeline):
    """`cleanops trigger` queues the run (no daemon in the tests, so it stays queued)."""
    from click.testing import CliRunner

    from cleanops.cli.main import cli

    pipeline = make_pipeline({"pipeline_id": unique_id("queued"),
                              "data_sources": [{"id": "events", "type": "csv", "path": "landing/*.csv"}],
                              "schedule": {"type": "event", "triggers": [{"type": "external"}]}})
    before = collect(dagster_instance, warehouse, sample_seconds=SAMPLE)
    result = CliRunner().invoke(cli, ["trigger", pipeline.spec.pipeline_id])
    assert result.exit_code == 0, result.output
    run_id = result.output.split()[2]
    try:
        after = collect(dagster_instance, warehouse, sample_seconds=SAMPLE)
    finally:
        dagster_instance.delete_run(run_id)
    assert after.system_metrics["queued_tasks"] - before.system_metrics["queued_tasks"] == 1
    assert after.pipeline_metrics["queued_runs"] == after.system_metrics["queued_tasks"]


def test_data_processed_comes_from_ingestion_materializations(warehouse, pipelines_dir, make_pipeline):
    data = pipelines_dir / "data"
    data.mkdir()
    rows = "".join(f"{i},user{i}@example.com\n" for i in range(1, 2001))
    (data / "users.csv").write_text("user_id,email\n" + rows + "2001,not-an-email\n")
    loaded = make_pipeline({"pipeline_id": unique_id("metrics"),
                            "data_sources": [{"id": "users", "type": "csv", "path": "data/*.csv"}],
                            "transformations": [{"type": "validation", "config": {
                                "required_fields": ["user_id"], "data_types": {"email": "email"}}}]})
    with dg.instance_for_test() as instance:
        result = materialize_pipeline(loaded, instance=instance)
        p = collect(instance, warehouse, sample_seconds=SAMPLE).pipeline_metrics
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert (p["records_extracted"], p["records_processed"], p["records_rejected"]) == (2001, 2000, 1)
    assert p["data_processed_mb"] == metadata["data_volume_mb"].value > 0
    assert p["total_data_processed_gb"] == round(p["data_processed_mb"] / 1000, 6)
    assert p["successful_executions_24h"] == 1


def test_a_disk_path_that_cannot_be_statted_is_null(warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("CLEANOPS_HOME", str(tmp_path / "gone" / "home"))  # the engine is already made
    with dg.instance_for_test() as instance:
        snapshot = collect(instance, warehouse, sample_seconds=SAMPLE)
        explicit = collect(instance, warehouse, disk_path=tmp_path / "missing", sample_seconds=SAMPLE)
    assert snapshot.system_metrics["disk_usage_percent"] is None
    assert explicit.system_metrics["disk_usage_percent"] is None
    assert snapshot.to_dict()["system_metrics"]["disk_usage_percent"] is None
    assert "disk_usage_percent" not in snapshot.figures()
