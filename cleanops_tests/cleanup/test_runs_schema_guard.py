"""Run deletion: the set-based SQL path only on the storage schema it knows, else instance.delete_run."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from cleanops.cleanup import audit, runs, service
from cleanops_tests.cleanup.helpers import asset_job, options, runs_policy
from cleanops_tests.conftest import unique_id

RUN_TABLES = ("runs", "run_tags", "event_logs", "asset_check_executions")


def _expired_runs(instance) -> tuple[str, set[str], str]:
    """A job with a failed and an older successful run (both expired) and its latest run (kept)."""
    name = unique_id("guard_job").replace("-", "_")
    job = asset_job(name, f"asset_{name}")
    failed = asset_job(name, f"asset_{name}", fail=True).execute_in_process(
        instance=instance, raise_on_error=False).run_id
    old = job.execute_in_process(instance=instance).run_id
    latest = job.execute_in_process(instance=instance).run_id
    return name, {failed, old}, latest


def _rows_left(run_ids: set[str]) -> dict[str, int]:
    with runs.instance_engine().connect() as conn:
        counts = {table: conn.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE run_id = ANY(:ids)"),
                                     {"ids": list(run_ids)}) for table in RUN_TABLES}
    return {table: count for table, count in counts.items() if count}


def _clean(warehouse, instance, name: str):
    result = service.run_cleanup(warehouse, options(runs_policy(warehouse, name)), instance=instance)
    assert result.status == "completed", result.to_dict()
    return result, [a for a in audit.actions_of(warehouse, result.cleanup_id)
                    if a["action"] == "deleted" and a["object_kind"] == "run"]


def test_the_instance_has_the_schema_the_fast_path_was_written_for(dagster_instance):
    """Fails on a Dagster upgrade that migrates storage: re-check the SQL, then update FAST_PATH_SCHEMA."""
    assert runs.storage_schema(runs.instance_engine()) == runs.FAST_PATH_SCHEMA


def test_both_paths_delete_the_same_runs_and_leave_no_rows(warehouse, dagster_instance, monkeypatch, caplog):
    fast_name, fast_expired, fast_latest = _expired_runs(dagster_instance)
    assert {"runs", "event_logs"} <= set(_rows_left(fast_expired))
    fast, fast_deleted = _clean(warehouse, dagster_instance, fast_name)
    assert {a["object"] for a in fast_deleted} == fast_expired
    assert all(a["archive_location"] for a in fast_deleted)

    monkeypatch.setattr(runs, "FAST_PATH_SCHEMA", "not-this-schema")
    monkeypatch.setattr(runs, "_warned", set())
    slow_name, slow_expired, slow_latest = _expired_runs(dagster_instance)
    assert {"runs", "event_logs"} <= set(_rows_left(slow_expired))
    with caplog.at_level(logging.WARNING, logger=runs.__name__):
        slow, slow_deleted = _clean(warehouse, dagster_instance, slow_name)
    assert "instance.delete_run" in caplog.text
    assert {a["object"] for a in slow_deleted} == slow_expired
    assert all(a["archive_location"] is None and "not archived" in a["reason"] for a in slow_deleted)

    assert fast.totals.runs_deleted == slow.totals.runs_deleted == 2
    for expired, latest in ((fast_expired, fast_latest), (slow_expired, slow_latest)):
        assert all(dagster_instance.get_run_by_id(run_id) is None for run_id in expired)
        assert _rows_left(expired) == {}
        assert dagster_instance.get_run_by_id(latest) is not None
