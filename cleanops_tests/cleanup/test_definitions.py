"""The Dagster `cleanup` job, its 02:00 schedule and the emergency disk sensor."""

from __future__ import annotations

import dagster as dg

from cleanops.cleanup import definitions
from cleanops.pipelines.loader import LoadResult
from cleanops_tests.cleanup.helpers import file_policy, make_file


def test_job_runs_the_phases_and_reports_the_seed_metrics(warehouse, dagster_instance, tmp_path):
    root = tmp_path / "root"
    for i in range(6):
        make_file(root / f"f{i}.log", b"x" * 1000)
    make_file(root / "young.log", age_days=0)
    data_type = file_policy(warehouse, root)
    result = definitions.cleanup_job.execute_in_process(
        instance=dagster_instance, run_config=definitions.run_config("manual", data_types=[data_type]))
    assert result.success
    assert [e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"] == [
        "audit", "retention_check", "dependency_analysis", "safe_deletion", "verification", "audit_log"]
    materialization = result.asset_materializations_for_node("audit_log")[0]
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["files_removed"] == 6 and metadata["cleanup_operations"] == 6
    assert {"data_cleaned_gb", "storage_reclaimed_gb"} <= set(metadata)
    assert sorted(p.name for p in root.iterdir()) == ["young.log"]
    event = dagster_instance.get_latest_materialization_event(definitions.METRICS_ASSET)
    assert event.asset_materialization.metadata["cleanup_id"].value == metadata["cleanup_id"]


def test_emergency_run_shortens_retention_but_keeps_checks(warehouse, dagster_instance, tmp_path):
    root = tmp_path / "root"
    make_file(root / "five_days.log", age_days=5)
    make_file(root / "two_days.log", age_days=2)
    data_type = file_policy(warehouse, root, days=8)  # emergency x0.5 -> 4 days
    result = definitions.cleanup_job.execute_in_process(
        instance=dagster_instance,
        run_config=definitions.run_config("emergency", data_types=[data_type], emergency_factor=0.5))
    assert result.success
    assert sorted(p.name for p in root.iterdir()) == ["two_days.log"]


def test_schedule_daily_at_two_in_configured_timezone(monkeypatch):
    monkeypatch.setenv("CLEANOPS_CLEANUP_TIMEZONE", "Europe/Paris")
    defs = definitions.build(LoadResult())
    schedule = defs.resolve_schedule_def("cleanup_daily")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Europe/Paris"
    assert schedule.job_name == "cleanup"


def test_emergency_sensor_triggers_over_threshold_only(monkeypatch, dagster_instance, tmp_path):
    monkeypatch.setenv("CLEANOPS_EMERGENCY_DISK_PATH", str(tmp_path))
    monkeypatch.setenv("CLEANOPS_EMERGENCY_DISK_PERCENT", "100")
    context = dg.build_sensor_context(instance=dagster_instance)
    assert not definitions.emergency_disk_sensor.evaluate_tick(context).run_requests
    monkeypatch.setenv("CLEANOPS_EMERGENCY_DISK_PERCENT", "0")
    monkeypatch.setenv("CLEANOPS_EMERGENCY_FACTOR", "0.25")
    requests = definitions.emergency_disk_sensor.evaluate_tick(dg.build_sensor_context(instance=dagster_instance)) \
        .run_requests
    assert len(requests) == 1
    config = requests[0].run_config["ops"]["audit"]["config"]
    assert config["cleanup_type"] == "emergency" and config["emergency_factor"] == 0.25
    assert config.get("archive", True) is True  # backups are never skipped by the sensor


def test_dry_run_job_changes_nothing_and_audits_what_it_would_do(warehouse, dagster_instance, tmp_path):
    from cleanops.cleanup import audit

    root = tmp_path / "root"
    make_file(root / "a.log")
    data_type = file_policy(warehouse, root)
    result = definitions.cleanup_job.execute_in_process(
        instance=dagster_instance, run_config=definitions.run_config("manual", data_types=[data_type], dry_run=True))
    assert result.success
    assert (root / "a.log").exists()
    cleanup_id = result.asset_materializations_for_node("audit_log")[0].metadata["cleanup_id"].value
    assert [a["action"] for a in audit.actions_of(warehouse, cleanup_id)] == ["would_delete"]
