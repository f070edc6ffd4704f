"""Restore (rollback) a cleanup: files back byte-identical with their mode and mtime,
rows back into the tables they came from.

Files come from the archive's manifest, so a cleanup killed mid-run restores everything
it archived, audited or not. A file is copied to a temporary name beside its original
place, checked against the manifest's sha256, given its mode and mtimes, made durable,
then renamed into place; an existing file at that path is never overwritten (reported
instead). The archive copy is only read, never moved or removed, so at every moment the
file is in the archive, at its place, or both - never in neither.
Rows are moved back from `cleanops_archive` in one transaction per table, so restoring
twice does not duplicate them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import sqlalchemy as sa
from psycopg import sql

from cleanops.cleanup import archive, runs
from cleanops.cleanup.audit import AuditAction, write_actions
from cleanops.cleanup.models import Candidate, CleanupError, CleanupOptions


@dataclass
class RestoreReport:
    cleanup_id: str
    files_restored: int = 0
    files_skipped: int = 0
    rows_restored: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"cleanup_id": self.cleanup_id, "files_restored": self.files_restored,
                "files_skipped": self.files_skipped, "rows_restored": self.rows_restored, "problems": self.problems}


def restore(warehouse: sa.Engine, cleanup_id: str, started_by: str, instance_engine: sa.Engine | None = None,
            ) -> RestoreReport:
    with warehouse.connect() as conn:
        row = conn.execute(sa.text("SELECT cleanup_type, dry_run, archive, archive_expired_at FROM "
                                   "cleanops.cleanup_runs WHERE cleanup_id = :id"), {"id": cleanup_id}).one_or_none()
    if row is None:
        raise CleanupError(f"no cleanup {cleanup_id!r}")
    if row.dry_run:
        raise CleanupError(f"{cleanup_id} was a dry run: nothing was deleted")
    if not row.archive:
        raise CleanupError(f"{cleanup_id} ran without backups (archive off): there is nothing to restore")
    if row.archive_expired_at is not None:
        raise CleanupError(f"the archive of {cleanup_id} expired on {row.archive_expired_at} (cleanup_backups)")
    report = RestoreReport(cleanup_id)
    options = CleanupOptions(cleanup_type=row.cleanup_type, dry_run=False, started_by=started_by)
    actions = [_restore_file(entry, cleanup_id, report) for entry in archive.read_manifest(cleanup_id)]
    _restore_rows(warehouse, cleanup_id, report, order=())
    _restore_rows(instance_engine or runs.instance_engine(), cleanup_id, report, order=runs.RUN_TABLES)
    for table, count in report.rows_restored.items():
        actions.append(AuditAction(Candidate("*", "rows", table, "restore"), "restored", "ok", size=count))
    write_actions(warehouse, cleanup_id, options, actions)
    return report


def _restore_file(entry: dict, cleanup_id: str, report: RestoreReport) -> AuditAction:
    candidate = Candidate(entry.get("data_type", "*"), "file", entry["path"], "restore", size=entry["size"],
                          path=entry["path"])
    source = archive.cleanup_dir(cleanup_id) / "files" / entry["archived"]
    target = os.fsencode(entry["path"])
    if os.path.lexists(target):
        report.files_skipped += 1
        return AuditAction(candidate, "restore_skipped", "skipped", reason="a file exists at the original path")
    try:
        _copy_back(source, target, entry)
    except (OSError, ValueError) as error:
        problem = f"{error} (the archived copy stays at {source})"
        report.problems.append(f"{candidate.display}: {problem}")
        return AuditAction(candidate, "restore_failed", "failed", error=problem, archive_location=str(source))
    report.files_restored += 1
    return AuditAction(candidate, "restored", "ok", archive_location=str(source), checksum=entry["sha256"])


def _copy_back(source, target: bytes, entry: dict) -> None:
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, b".cleanops-restore-" + os.urandom(6).hex().encode())
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as src, open(temporary, "xb") as dst:
            while chunk := src.read(archive.CHUNK):
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        if digest.hexdigest() != entry["sha256"]:
            raise ValueError("archive copy does not match its sha256; not restored")
        os.chmod(temporary, entry["mode"])
        if os.geteuid() == 0:
            os.chown(temporary, entry["uid"], entry["gid"])
        os.utime(temporary, ns=(entry["atime_ns"], entry["mtime_ns"]))
        _place(temporary, target)
        _fsync_folder(folder)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def _place(temporary: bytes, target: bytes) -> None:
    """Give the restored file its name without ever replacing a file that appeared there (link, not rename)."""
    try:
        os.link(temporary, target, follow_symlinks=False)
    except FileExistsError:
        raise ValueError("a file appeared at the original path; not overwritten") from None
    os.unlink(temporary)


def _fsync_folder(folder: bytes) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _restore_rows(engine: sa.Engine, cleanup_id: str, report: RestoreReport, order: tuple[str, ...]) -> None:
    with archive.psycopg_connection(engine) as conn:
        if conn.execute("SELECT to_regclass('cleanops_archive.archive_tables')").fetchone()[0] is None:
            return
        tables = conn.execute("SELECT archive_table, source_schema, source_table FROM "
                              "cleanops_archive.archive_tables").fetchall()
        rank = {name: i for i, name in enumerate(order)}
        tables.sort(key=lambda t: (rank.get(t[2], len(rank)), t[0]))
        with conn.transaction():
            for archive_table, schema, table in tables:
                count = _move_back(conn, cleanup_id, archive_table, schema, table)
                if count:
                    report.rows_restored[f"{schema}.{table}"] = count


def _move_back(conn, cleanup_id: str, archive_table: str, schema: str, table: str) -> int:
    source = sql.Identifier("cleanops_archive", archive_table)
    target = sql.Identifier(schema, table)
    if conn.execute("SELECT to_regclass(%s)", (target.as_string(conn),)).fetchone()[0] is None:
        return 0
    columns = [c for c in archive.table_columns(conn, schema, table)
               if c in set(archive.table_columns(conn, "cleanops_archive", archive_table))]
    cols = archive.column_list(columns)
    moved = conn.execute(sql.SQL(
        "WITH moved AS (DELETE FROM {a} WHERE _cleanup_id = %s RETURNING *) "
        "INSERT INTO {t} ({c}) SELECT {c} FROM moved").format(a=source, t=target, c=cols), (cleanup_id,))
    return moved.rowcount or 0
