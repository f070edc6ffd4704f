"""Archives: what a cleanup deletes is kept first, so every cleanup can be undone.

Files go into a folder archive, `<archives>/<cleanup_id>/files/<n>`, one plain file per
original (so a partly written archive is still readable after a crash), listed in
`manifest.jsonl` with its original path, mode, mtimes, owner, size and sha256. Each entry
is an independent copy - a reflink (FICLONE) where the file system shares blocks
copy-on-write, else a byte copy - made read-only, never a hard link: a hard link shares
the inode, so a second link elsewhere or a writer holding the file open would keep
changing the "archive" after the original is gone. The sha256 is of the archived copy.
A batch's copies and manifest lines are made durable before its originals are unlinked;
an original that changed while it was copied is kept and its entry withdrawn.

Database rows go into tables of the `cleanops_archive` schema of the database they came
from (warehouse rows in the warehouse, Dagster rows in the instance database), with a
`_cleanup_id` column first; `cleanops_archive.archive_tables` records which source
table each archive table mirrors, so restore can put rows back.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from psycopg import sql

from cleanops import settings
from cleanops.cleanup.models import Candidate

CHUNK = 1 << 20
MANIFEST = "manifest.jsonl"


def cleanup_dir(cleanup_id: str) -> Path:
    return settings.paths().archives / cleanup_id


FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
ARCHIVED_MODE = 0o400


class FileArchive:
    """Copies files (held open by the caller) into one cleanup's archive folder.

    The copy is read from the held descriptor, so it is the file that was checked; its
    sha256 is computed from the copy itself. The copy is read-only and shares nothing with
    the original, so nothing done to the original afterwards can change it.
    """

    def __init__(self, cleanup_id: str) -> None:
        self.folder = cleanup_dir(cleanup_id) / "files"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.manifest_path = cleanup_dir(cleanup_id) / MANIFEST
        self._manifest = open(self.manifest_path, "a", encoding="utf-8")
        self._next = sum(1 for _ in open(self.manifest_path, encoding="utf-8"))
        self.bytes_written = 0
        self._reflink = True  # until the file system refuses once

    def add(self, candidate: Candidate, fd: int, info: os.stat_result) -> dict:
        number = self._next
        self._next += 1
        target = self.folder / f"{number:09d}"
        method, digest = self._copy(fd, target, info)
        entry = {"n": number, "archived": target.name, "path": candidate.path, "data_type": candidate.data_type,
                 "size": info.st_size, "mode": stat_mode(info), "mtime_ns": info.st_mtime_ns,
                 "atime_ns": info.st_atime_ns, "uid": info.st_uid, "gid": info.st_gid,
                 "sha256": digest, "method": method}
        self._manifest.write(json.dumps(entry) + "\n")
        self.bytes_written += info.st_size
        return entry

    def withdraw(self, entry: dict, reason: str) -> None:
        """The original was kept after all: drop its copy and mark the entry so restore skips it."""
        self._manifest.write(json.dumps({"withdrawn": entry["n"], "reason": reason}) + "\n")
        try:
            os.unlink(self.folder / entry["archived"])
        except FileNotFoundError:
            pass
        self.bytes_written -= entry["size"]

    def _copy(self, fd: int, target: Path, info: os.stat_result) -> tuple[str, str]:
        out = os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            if self._reflink and _clone(fd, out):
                method, digest = "reflink", hash_fd(out)
            else:
                self._reflink = False
                method, digest = "copy", _copy_fd(fd, out)
            os.fchmod(out, ARCHIVED_MODE)
            os.utime(out, ns=(info.st_atime_ns, info.st_mtime_ns))
        except BaseException:
            os.close(out)
            os.unlink(target)
            raise
        os.close(out)
        return method, digest

    def sync(self) -> None:
        """Make the batch's copies and manifest lines durable before its originals are unlinked."""
        self._manifest.flush()
        os.fsync(self._manifest.fileno())
        _syncfs(self.folder)

    flush = sync

    def close(self) -> None:
        self.flush()
        self._manifest.close()


def _clone(source: int, out: int) -> bool:
    """Reflink the whole file (btrfs, XFS, bcachefs ...); False where the file system cannot."""
    try:
        fcntl.ioctl(out, FICLONE, source)
    except OSError:
        return False
    return True


def hash_fd(fd: int) -> str:
    """sha256 of an open file's whole content, read from the start."""
    digest = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, CHUNK, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def _copy_fd(fd: int, out: int) -> str:
    """Copy from `fd` to `out`; returns the sha256 of the bytes written (the copy's content)."""
    digest = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, CHUNK, offset):
        digest.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(out, view):]
        offset += len(chunk)
    return digest.hexdigest()


def _syncfs(folder: Path) -> None:
    """Flush the archive's file system once per batch (syncfs), cheaper than an fsync per file."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _LIBC is not None and _LIBC.syncfs(fd) == 0:
            return
        os.sync()
    finally:
        os.close(fd)


def _load_libc():
    try:
        import ctypes
        import ctypes.util

        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except (OSError, AttributeError):
        return None


_LIBC = _load_libc()


def stat_mode(info: os.stat_result) -> int:
    return info.st_mode & 0o7777


def read_manifest(cleanup_id: str):
    """The manifest's entries, without those withdrawn (originals that were kept after all)."""
    path = cleanup_dir(cleanup_id) / MANIFEST
    if not path.exists():
        return
    withdrawn = {line["withdrawn"] for line in _manifest_lines(path) if "withdrawn" in line}
    for line in _manifest_lines(path):
        if "withdrawn" not in line and line["n"] not in withdrawn:
            yield line


def _manifest_lines(path: Path):
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.endswith("\n"):  # a line cut short by a crash is ignored: its original was never unlinked
                yield json.loads(line)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- database rows -------------------------------------------------------------------

REGISTRY = sql.SQL("""
    CREATE TABLE IF NOT EXISTS cleanops_archive.archive_tables (
        archive_table text PRIMARY KEY,
        source_schema text NOT NULL,
        source_table  text NOT NULL,
        UNIQUE (source_schema, source_table))""")


def archive_table_name(schema: str, table: str) -> str:
    name = f"{schema}__{table}"
    if len(name) > 63:
        name = name[:50] + "_" + hashlib.sha256(name.encode()).hexdigest()[:12]
    return name


def table_columns(conn, schema: str, table: str) -> list[str]:
    """Columns of a table in order, from the catalog (a raw psycopg connection)."""
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum", (sql.Identifier(schema, table).as_string(conn),)).fetchall()
    return [r[0] for r in rows]


def ensure_archive_table(conn, schema: str, table: str) -> tuple[sql.Composed, list[str]]:
    """The archive table for schema.table (created or widened as needed) and the columns to copy."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS cleanops_archive")
    conn.execute(REGISTRY)
    name = archive_table_name(schema, table)
    target = sql.Identifier("cleanops_archive", name)
    source = sql.Identifier(schema, table)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"cleanops_archive.{name}",))
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {t} AS SELECT ''::text AS _cleanup_id, * FROM {s} WITH NO DATA")
                 .format(t=target, s=source))
    conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} (_cleanup_id)").format(
        i=sql.Identifier(f"{name[:50]}_cid"), t=target))
    conn.execute("INSERT INTO cleanops_archive.archive_tables VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                 (name, schema, table))
    source_columns = table_columns(conn, schema, table)
    archived = set(table_columns(conn, "cleanops_archive", name))
    for column in source_columns:
        if column not in archived:
            column_type = conn.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                "AND attname = %s", (source.as_string(conn), column)).fetchone()[0]
            conn.execute(sql.SQL("ALTER TABLE {t} ADD COLUMN {c} " + column_type).format(
                t=target, c=sql.Identifier(column)))
    return target, source_columns


def column_list(columns: list[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


@contextmanager
def psycopg_connection(engine: sa.Engine):
    """A pooled psycopg 3 connection, for COPY and psycopg.sql composition.

    The pool rolls back whatever is open when the connection goes back, so work done
    outside an explicit `conn.transaction()` block is committed here on success.
    """
    pooled = engine.raw_connection()
    conn = pooled.driver_connection
    try:
        yield conn
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        pooled.close()
