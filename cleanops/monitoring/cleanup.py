"""Cleanup figures from the audit tables (`cleanops.cleanup_runs`, `cleanops.cleanup_audit`).

The window selects cleanups *started* in it (indexed on `cleanup_runs.started_at`); their
audit rows are reached by `cleanup_id` (indexed), so no scan of the whole audit trail.
Dry runs are left out: they delete nothing.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

GB = 1024 ** 3  # the cleanup area's unit (cleanops.cleanup.service)

QUERY = sa.text("""
WITH recent AS (
    SELECT cleanup_id, summary FROM cleanops.cleanup_runs WHERE NOT dry_run AND started_at >= :since
), deleted AS (
    SELECT
        coalesce(sum(a.size_bytes) FILTER (WHERE a.object_kind IN ('file', 'run')), 0) AS bytes_deleted,
        coalesce(sum(a.size_bytes) FILTER (WHERE a.object_kind = 'archive'), 0) AS archive_bytes_purged,
        count(*) FILTER (WHERE a.object_kind = 'file') AS files_removed,
        count(*) FILTER (WHERE a.object_kind = 'run') AS runs_deleted,
        count(*) AS objects_deleted
    FROM cleanops.cleanup_audit a
    WHERE a.cleanup_id IN (SELECT cleanup_id FROM recent) AND a.action = 'deleted' AND NOT a.dry_run
)
SELECT d.*, (SELECT count(*) FROM recent) AS cleanup_operations,
       (SELECT coalesce(sum((summary -> 'totals' ->> 'archive_bytes')::bigint), 0) FROM recent) AS archive_bytes
FROM deleted d
""")


def cleanup_metrics(engine: sa.Engine, since: datetime) -> dict:
    """data_cleaned_gb: bytes of files and runs deleted; storage_reclaimed_gb: that, plus old
    archives purged, minus what the cleanups wrote into new archives (as the cleanup job reports)."""
    with engine.connect() as conn:
        row = {name: int(value) for name, value in conn.execute(QUERY, {"since": since}).mappings().one().items()}
    reclaimed = row["bytes_deleted"] + row["archive_bytes_purged"] - row["archive_bytes"]
    return {"data_cleaned_gb": round(row["bytes_deleted"] / GB, 6), "files_removed": row["files_removed"],
            "storage_reclaimed_gb": round(reclaimed / GB, 6), "cleanup_operations": row["cleanup_operations"],
            "data_cleaned_bytes": row["bytes_deleted"], "storage_reclaimed_bytes": reclaimed,
            "objects_deleted": row["objects_deleted"], "runs_deleted": row["runs_deleted"]}
