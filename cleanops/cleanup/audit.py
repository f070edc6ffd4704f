"""The audit trail: `cleanops.cleanup_runs` (one row per cleanup) and `cleanops.cleanup_audit`
(one row per action on one object), written with COPY so 100,000 actions cost about a second.

Audit rows are written after each batch commits; a cleanup killed mid-run therefore
shows every batch it finished, and the next cleanup marks its run row `interrupted`.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from cleanops.cleanup import archive
from cleanops.cleanup.models import Candidate, CleanupOptions

AUDIT_COLUMNS = ("cleanup_id", "cleanup_type", "dry_run", "data_type", "object_kind", "object", "size_bytes",
                 "action", "reason", "archive_location", "checksum", "status", "error", "started_at",
                 "finished_at", "started_by")


def new_cleanup_id(now: datetime) -> str:
    return f"cleanup-{now.astimezone(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class AuditAction:
    candidate: Candidate
    action: str
    status: str
    reason: str | None = None
    archive_location: str | None = None
    checksum: str | None = None
    error: str | None = None
    size: int | None = None
    started_at: datetime | None = None


def start_run(engine: sa.Engine, cleanup_id: str, options: CleanupOptions, archive_location: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO cleanops.cleanup_runs (cleanup_id, cleanup_type, dry_run, archive, status, started_at, "
            "started_by, host, pid, archive_location, summary) VALUES (:id, :type, :dry, :archive, 'running', "
            ":started, :by, :host, :pid, :loc, CAST(:options AS jsonb))"),
            {"id": cleanup_id, "type": options.cleanup_type, "dry": options.dry_run, "archive": options.archive,
             "started": utcnow(), "by": options.started_by, "host": socket.gethostname(), "pid": os.getpid(),
             "loc": archive_location, "options": json.dumps({"options": options.to_dict()})})


def finish_run(engine: sa.Engine, cleanup_id: str, status: str, summary: dict) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(
            "UPDATE cleanops.cleanup_runs SET status = :status, finished_at = :now, "
            "summary = summary || CAST(:summary AS jsonb) WHERE cleanup_id = :id"),
            {"id": cleanup_id, "status": status, "now": utcnow(), "summary": json.dumps(summary, default=str)})


def mark_interrupted(engine: sa.Engine, options: CleanupOptions) -> list[str]:
    """Runs left 'running' by a dead process (we hold the lock, so none is alive): mark and audit them."""
    with engine.begin() as conn:
        rows = conn.execute(sa.text(
            "UPDATE cleanops.cleanup_runs SET status = 'interrupted', finished_at = :now "
            "WHERE status = 'running' RETURNING cleanup_id, cleanup_type, dry_run, started_by"),
            {"now": utcnow()}).all()
        for row in rows:
            conn.execute(sa.text(
                "INSERT INTO cleanops.cleanup_audit (cleanup_id, cleanup_type, dry_run, data_type, object_kind, "
                "object, action, reason, status, started_by) VALUES (:id, :type, :dry, '*', 'cleanup', :id, "
                "'interrupted', :reason, 'failed', :by)"),
                {"id": row.cleanup_id, "type": row.cleanup_type, "dry": row.dry_run, "by": options.started_by,
                 "reason": "the process running this cleanup stopped before finishing (found by a later cleanup)"})
    return [row.cleanup_id for row in rows]


def write_actions(engine: sa.Engine, cleanup_id: str, options: CleanupOptions, actions: list[AuditAction]) -> None:
    if not actions:
        return
    now = utcnow()
    with archive.psycopg_connection(engine) as conn:
        with conn.transaction(), conn.cursor() as cursor:
            with cursor.copy(f"COPY cleanops.cleanup_audit ({', '.join(AUDIT_COLUMNS)}) FROM STDIN") as copy:
                for a in actions:
                    c = a.candidate
                    copy.write_row((cleanup_id, options.cleanup_type, options.dry_run, c.data_type, c.kind,
                                    c.display, a.size if a.size is not None else c.size, a.action,
                                    a.reason or c.reason, a.archive_location, a.checksum, a.status, a.error,
                                    a.started_at or now, now, options.started_by))


def history(engine: sa.Engine, limit: int = 20) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT r.cleanup_id, r.cleanup_type, r.dry_run, r.status, r.started_at, r.finished_at, r.started_by, "
            "r.archive_location, r.summary->'metrics' AS metrics FROM cleanops.cleanup_runs r "
            "ORDER BY r.started_at DESC LIMIT :limit"), {"limit": limit}).mappings().all()
    return [dict(r) for r in rows]


def actions_of(engine: sa.Engine, cleanup_id: str) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT data_type, object_kind, object, size_bytes, action, reason, archive_location, checksum, status, "
            "error FROM cleanops.cleanup_audit WHERE cleanup_id = :id ORDER BY audit_id"), {"id": cleanup_id})
        return [dict(r) for r in rows.mappings()]


def stats(engine: sa.Engine) -> dict:
    """Totals over every non-dry cleanup, and the last one."""
    with engine.connect() as conn:
        totals = conn.execute(sa.text(
            "SELECT count(*) FILTER (WHERE action = 'deleted') AS objects_deleted, "
            "coalesce(sum(size_bytes) FILTER (WHERE action = 'deleted' AND object_kind = 'file'), 0) AS file_bytes, "
            "count(*) FILTER (WHERE action = 'deleted' AND object_kind = 'run') AS runs_deleted, "
            "count(*) FILTER (WHERE status = 'failed') AS failed_actions, "
            "count(DISTINCT cleanup_id) AS cleanups FROM cleanops.cleanup_audit WHERE NOT dry_run")).mappings().one()
        by_type = conn.execute(sa.text(
            "SELECT data_type, count(*) AS deleted, coalesce(sum(size_bytes), 0) AS size_bytes "
            "FROM cleanops.cleanup_audit WHERE NOT dry_run AND action = 'deleted' GROUP BY 1 ORDER BY 1")).mappings()
        by_type = [dict(r) for r in by_type]
    recent = history(engine, 1)
    return {**dict(totals), "by_data_type": by_type, "last_cleanup": recent[0] if recent else None}
