"""Cleanup figures from the audit tables, for cleanups started in the window."""

from datetime import datetime, timedelta, timezone

from cleanops.cleanup import audit
from cleanops.cleanup.models import Candidate, CleanupOptions
from cleanops.monitoring.cleanup import GB, cleanup_metrics


def _candidate(kind: str, size: int, name: str) -> Candidate:
    return Candidate(data_type="monitoring_test", kind=kind, key=name, size=size, reason="old", path=f"/tmp/{name}")


def _cleanup(warehouse, actions, dry_run=False, archive_bytes=0):
    options = CleanupOptions(cleanup_type="manual", dry_run=dry_run, archive=True, started_by="test")
    cleanup_id = audit.new_cleanup_id(datetime.now(timezone.utc))
    audit.start_run(warehouse, cleanup_id, options, None)
    audit.write_actions(warehouse, cleanup_id, options, actions)
    audit.finish_run(warehouse, cleanup_id, "completed", {"totals": {"archive_bytes": archive_bytes}})
    return cleanup_id


def test_cleanup_figures_count_deletions_of_real_cleanups(warehouse):
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    before = cleanup_metrics(warehouse, since)
    _cleanup(warehouse, [audit.AuditAction(_candidate("file", 1000, "a.log"), "deleted", "ok"),
                         audit.AuditAction(_candidate("file", 3000, "b.log"), "deleted", "ok"),
                         audit.AuditAction(_candidate("file", 500, "c.log"), "skipped", "skipped"),
                         audit.AuditAction(_candidate("archive", 2000, "old"), "deleted", "ok")],
             archive_bytes=1500)
    _cleanup(warehouse, [audit.AuditAction(_candidate("file", 9999, "d.log"), "would_delete", "planned")],
             dry_run=True)
    after = cleanup_metrics(warehouse, since)
    assert after["files_removed"] - before["files_removed"] == 2
    assert after["cleanup_operations"] - before["cleanup_operations"] == 1
    assert after["objects_deleted"] - before["objects_deleted"] == 3
    assert after["data_cleaned_bytes"] - before["data_cleaned_bytes"] == 4000
    assert after["storage_reclaimed_bytes"] - before["storage_reclaimed_bytes"] == 4000 + 2000 - 1500
    assert after["data_cleaned_gb"] == round(after["data_cleaned_bytes"] / GB, 6)
    assert all(type(value) in (int, float) for value in after.values())


def test_no_cleanups_in_the_window_gives_zeros(warehouse):
    assert cleanup_metrics(warehouse, datetime.now(timezone.utc) + timedelta(days=1)) == {
        "data_cleaned_gb": 0.0, "files_removed": 0, "storage_reclaimed_gb": 0.0, "cleanup_operations": 0,
        "data_cleaned_bytes": 0, "storage_reclaimed_bytes": 0, "objects_deleted": 0, "runs_deleted": 0}
