"""Dagster runs: terminal, expired, not holding a latest materialization; archived and restorable."""

from __future__ import annotations

import os

import dagster as dg
import sqlalchemy as sa

from cleanops import settings
from cleanops.cleanup import audit, restore, runs, service
from cleanops_tests.cleanup.helpers import asset_job, options, runs_policy
from cleanops_tests.conftest import unique_id


def _job_name() -> str:
    return unique_id("cleanup_job").replace("-", "_")


def _event_count(instance, run_id: str) -> int:
    return len(instance.all_logs(run_id))


def test_expired_terminal_runs_deleted_latest_materialization_kept(warehouse, dagster_instance):
    name = _job_name()
    job = asset_job(name, f"asset_{name}")
    failed = asset_job(name, f"asset_{name}", fail=True).execute_in_process(
        instance=dagster_instance, raise_on_error=False).run_id
    old = job.execute_in_process(instance=dagster_instance).run_id
    latest = job.execute_in_process(instance=dagster_instance).run_id
    log_dir = settings.paths().compute_logs / old
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "step.out").write_text("captured stdout")
    logs = {str(p) for run_id in (old, failed) for p in (settings.paths().compute_logs / run_id).rglob("*")
            if p.is_file()}
    assert len(logs) > 1  # execute_in_process captured real compute logs too
    events_before = _event_count(dagster_instance, old)
    data_type = runs_policy(warehouse, name)

    dry = service.run_cleanup(warehouse, options(data_type, dry_run=True), list_limit=None,
                              instance=dagster_instance)
    listed = {c["object"] for c in dry.candidates}
    assert listed == {old, failed} | logs
    assert any(k["object"] == latest and "latest materialization" in k["reason"] for k in dry.kept)

    result = service.run_cleanup(warehouse, options(data_type), instance=dagster_instance)
    assert result.status == "completed", result.to_dict()
    assert result.totals.runs_deleted == 2 and result.totals.files_removed == len(logs)
    deleted = {a["object"] for a in audit.actions_of(warehouse, result.cleanup_id) if a["action"] == "deleted"}
    assert deleted == listed
    assert dagster_instance.get_run_by_id(old) is None and dagster_instance.get_run_by_id(failed) is None
    assert dagster_instance.get_run_by_id(latest) is not None
    assert _event_count(dagster_instance, old) == 0
    assert not any(os.path.exists(p) for p in logs)

    report = restore.restore(warehouse, result.cleanup_id, "test")
    assert report.files_restored == len(logs)
    assert dagster_instance.get_run_by_id(old).status == dg.DagsterRunStatus.SUCCESS
    assert dagster_instance.get_run_by_id(failed).status == dg.DagsterRunStatus.FAILURE
    assert _event_count(dagster_instance, old) == events_before
    assert (log_dir / "step.out").read_text() == "captured stdout"


def test_queued_and_running_runs_are_never_candidates(warehouse, dagster_instance):
    name = _job_name()
    from dagster._core.events import DagsterEvent, DagsterEventType

    live = [dagster_instance.add_run(dg.DagsterRun(job_name=name, run_id=unique_id("run"))).run_id]  # NOT_STARTED
    for event_type in ("RUN_STARTING", "RUN_START", "RUN_CANCELING"):
        run_id = dagster_instance.add_run(dg.DagsterRun(job_name=name, run_id=unique_id("run"))).run_id
        dagster_instance.run_storage.handle_run_event(
            run_id, DagsterEvent(DagsterEventType[event_type].value, job_name=name))
        live.append(run_id)
    queued = dagster_instance.add_run(dg.DagsterRun(job_name=name, run_id=unique_id("run"))).run_id
    with runs.instance_engine().begin() as conn:  # a queued run needs a code location origin to be created
        conn.execute(sa.text("UPDATE runs SET status = 'QUEUED' WHERE run_id = :id"), {"id": queued})
    live.append(queued)
    try:
        data_type = runs_policy(warehouse, name, statuses=("SUCCESS", "FAILURE", "CANCELED"))
        result = service.run_cleanup(warehouse, options(data_type), instance=dagster_instance)
        assert result.totals.planned == 0
        with runs.instance_engine().connect() as conn:
            statuses = conn.scalars(sa.text("SELECT status FROM runs WHERE run_id = ANY(:ids)"), {"ids": live}).all()
        assert sorted(statuses) == ["CANCELING", "NOT_STARTED", "QUEUED", "STARTED", "STARTING"]
    finally:  # these hand-made runs have no code origin: a daemon sharing the instance would trip on them
        for run_id in live:
            dagster_instance.delete_run(run_id)


def test_runs_newer_than_cutoff_and_keep_last_are_kept(warehouse, dagster_instance):
    name = _job_name()
    job = asset_job(name, f"asset_{name}")
    fail_job = asset_job(name, f"asset_{name}", fail=True)
    ids = [fail_job.execute_in_process(instance=dagster_instance, raise_on_error=False).run_id for _ in range(3)]
    young = runs_policy(warehouse, name, statuses=("FAILURE",), days=1)
    assert service.run_cleanup(warehouse, options(young), instance=dagster_instance).totals.planned == 0
    keep_two = runs_policy(warehouse, name, statuses=("FAILURE",), keep_last=2)
    result = service.run_cleanup(warehouse, options(keep_two), instance=dagster_instance)
    assert result.totals.runs_deleted == 1
    assert dagster_instance.get_run_by_id(ids[0]) is None
    assert all(dagster_instance.get_run_by_id(i) for i in ids[1:])
    job.execute_in_process(instance=dagster_instance)
