"""Phase 5, verification: what was deleted is gone, what was archived reads back intact,
and the counts reconcile (planned = deleted + skipped + failed; archived rows = deleted rows).

Works from results.jsonl, streamed, so it costs one pass whatever the size.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa
from psycopg import sql

from cleanops.cleanup import archive
from cleanops.cleanup.plan import RESULTS, CleanupSession, planned
from cleanops.cleanup.warehouse import BATCH_ROWS


@dataclass
class VerificationReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"checked": self.checked, "ok": self.ok, "problems": self.problems[:50],
                "problem_count": len(self.problems)}


def verify(session: CleanupSession, check_archive_checksums: bool = True,
           planned_count: int | None = None) -> VerificationReport:
    report = VerificationReport()
    statuses: Counter = Counter()
    deleted_rows: Counter = Counter()
    deleted_runs: list[str] = []
    archived_runs = 0
    event_rows = 0
    path = session.path(RESULTS)
    if path.exists():
        with open(path, encoding="utf-8") as handle:
            for result in map(json.loads, handle):
                statuses[result["action"]] += 1
                if result["action"] != "deleted":
                    continue
                report.checked += 1
                if result["kind"] == "file":
                    _verify_file(result, report, check_archive_checksums)
                elif result["kind"] == "run":
                    deleted_runs.append(result["key"])
                    archived_runs += bool(result.get("archive_location"))
                elif result["kind"] == "event_rows":
                    event_rows += result["size"]
                elif result["kind"] in ("staged_batch", "quarantine_rows"):
                    _verify_rows_gone(session, result, report)
                    deleted_rows[(result["extra"]["schema"], result["extra"]["table"])] += result["size"]
    if planned_count is None:
        planned_count = sum(1 for _ in planned(session))
    if planned_count != sum(statuses.values()):
        report.problems.append(f"planned {planned_count} objects but {sum(statuses.values())} were acted on "
                               f"({dict(statuses)})")
    if deleted_runs:
        _verify_runs(session, deleted_runs, archived_runs, report)
    if session.options.archive:
        _verify_archived_rows(session, deleted_rows, report)
        if event_rows:
            _verify_archived_events(session, event_rows, report)
    return report


def _verify_archived_events(session: CleanupSession, deleted: int, report: VerificationReport) -> None:
    """Event rows removed as chatter are all in the instance database's archive (with any of the runs' events)."""
    with session.instance_engine.connect() as conn:
        table = f"cleanops_archive.{conn.dialect.identifier_preparer.quote(archive.archive_table_name('public', 'event_logs'))}"
        archived = conn.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE _cleanup_id = :id"),
                               {"id": session.cleanup_id})
    if archived < deleted:
        report.problems.append(f"{deleted} event-log rows deleted but {archived} archived")


def _verify_file(result: dict, report: VerificationReport, checksums: bool) -> None:
    try:
        if os.lstat(os.fsencode(result["path"])).st_ino == result["ino"]:
            report.problems.append(f"{result['key']!r} still exists")
    except FileNotFoundError:
        pass
    location = result.get("archive_location")
    if location and checksums:
        try:
            if archive.sha256_file(location) != result["checksum"]:
                report.problems.append(f"archive copy of {result['key']!r} does not match its checksum")
        except OSError as error:
            report.problems.append(f"archive copy of {result['key']!r} unreadable: {error}")


def _verify_rows_gone(session: CleanupSession, result: dict, report: VerificationReport) -> None:
    extra = result["extra"]
    if result["kind"] != "staged_batch":
        return
    with archive.psycopg_connection(session.warehouse) as conn:
        left = conn.execute(sql.SQL("SELECT count(*) FROM {t} WHERE {rows}").format(
            t=sql.Identifier(extra["schema"], extra["table"]), rows=BATCH_ROWS),
            {"table": extra["table"], "batch": extra["batch_id"]}).fetchone()[0]
    if left:
        report.problems.append(f"{result['key']}: {left} rows still staged")


def _verify_runs(session: CleanupSession, run_ids: list[str], expected_archived: int,
                 report: VerificationReport) -> None:
    """Deleted runs are gone; those deleted with an archive location are in the archive."""
    with session.instance_engine.connect() as conn:
        left = conn.scalar(sa.text("SELECT count(*) FROM runs WHERE run_id = ANY(:ids)"), {"ids": run_ids})
        if left:
            report.problems.append(f"{left} deleted runs are still in the instance")
        if session.options.archive:
            table = f"cleanops_archive.{conn.dialect.identifier_preparer.quote(archive.archive_table_name('public', 'runs'))}"
            archived = conn.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE _cleanup_id = :id"),
                                   {"id": session.cleanup_id})
            if archived != expected_archived:
                report.problems.append(f"{expected_archived} runs deleted into the archive but {archived} archived")


def _verify_archived_rows(session: CleanupSession, deleted: Counter, report: VerificationReport) -> None:
    with archive.psycopg_connection(session.warehouse) as conn:
        for (schema, table), rows in deleted.items():
            target = sql.Identifier("cleanops_archive", archive.archive_table_name(schema, table))
            archived = conn.execute(sql.SQL("SELECT count(*) FROM {t} WHERE _cleanup_id = %s").format(t=target),
                                    (session.cleanup_id,)).fetchone()[0]
            if archived < rows:
                report.problems.append(f"{schema}.{table}: {rows} rows deleted but {archived} archived")
