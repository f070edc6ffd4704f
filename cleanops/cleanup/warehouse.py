"""Warehouse: staged batches and reviewed quarantine rows past retention.

A staged batch (the rows whose `_cleanops_load_id` points at one batch id, the Dagster
run that loaded them, in `cleanops.staged_loads`) is only a
candidate once a later batch of the same table exists and every asset downstream of the
staging asset has been materialized since that later batch was loaded: then nothing
still depends on the old batch. The newest batch of a table is never deleted.

Quarantine rows are candidates only when reviewed (status accepted or replayed) before
the cutoff; new rows wait for a human, whatever their age.

Rows are moved to `cleanops_archive` and deleted in one statement per chunk of
`batch_size` rows (DELETE ... RETURNING into INSERT), one commit per chunk, so no lock
is held for long however big the batch.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from datetime import datetime

import sqlalchemy as sa
from psycopg import sql

from cleanops.cleanup import archive
from cleanops.cleanup.models import Candidate
from cleanops.cleanup.policies import Policy

REVIEWED = ("accepted", "replayed")


# The rows of one staged batch of one staging table.
BATCH_ROWS = sql.SQL("_cleanops_load_id IN (SELECT load_id FROM cleanops.staged_loads "
                     "WHERE staging_table = %(table)s AND batch_id = %(batch)s)")


def _tables(conn, schema: str, patterns: list[str]) -> list[str]:
    """Tables of a schema whose name matches one of the policy's patterns (all when none)."""
    names = conn.scalars(sa.text(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s AND table_type = 'BASE TABLE' "
        "ORDER BY table_name"), {"s": schema})
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns or ["*"])]


def _quoted(conn, schema: str, table: str) -> str:
    prep = conn.dialect.identifier_preparer
    return f"{prep.quote(schema)}.{prep.quote(table)}"


def staged_batches(engine: sa.Engine, table: str) -> list[tuple[str, datetime, int]]:
    """(batch id, loaded at, rows) of one staging table, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            f"SELECT l.batch_id, max(l.loaded_at), count(*) FROM {_quoted(conn, 'staging', table)} s "
            "JOIN cleanops.staged_loads l ON l.load_id = s._cleanops_load_id "
            "GROUP BY 1 ORDER BY 2, 1")).all()
    return [(r[0], r[1], r[2]) for r in rows]


def scan_staged(engine: sa.Engine, policy: Policy, cutoff: datetime) -> Iterator[Candidate]:
    """Every batch loaded before the cutoff except a table's newest (dependencies come later)."""
    with engine.connect() as conn:
        tables = _tables(conn, "staging", policy.patterns)
    for table in tables:
        if "_cleanops_load_id" not in _columns(engine, "staging", table):
            continue
        batches = staged_batches(engine, table)
        if not batches:
            continue
        for index, (batch_id, loaded_at, rows) in enumerate(batches[:-1]):
            if loaded_at >= cutoff:
                continue
            next_batch, next_loaded, _ = batches[index + 1]
            yield Candidate(
                data_type=policy.data_type, kind="staged_batch", key=f"staging.{table}#{batch_id}",
                reason=f"batch loaded {loaded_at.isoformat()}, before the {policy.retention_days:g}-day cutoff; "
                       f"later batch {next_batch} loaded {next_loaded.isoformat()}",
                size=rows, extra={"schema": "staging", "table": table, "batch_id": batch_id, "rows": rows,
                                  "next_loaded": next_loaded.isoformat()})


def _columns(engine: sa.Engine, schema: str, table: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = :t"),
            {"s": schema, "t": table}))


def scan_quarantine(engine: sa.Engine, policy: Policy, cutoff: datetime) -> Iterator[Candidate]:
    """One candidate per quarantine table: its rows reviewed before the cutoff (ids fixed now)."""
    with engine.connect() as conn:
        for table in _tables(conn, "quarantine", policy.patterns):
            if not {"status", "reviewed_at", "quarantine_id"} <= _columns(engine, "quarantine", table):
                continue
            count, max_id = conn.execute(sa.text(
                f"SELECT count(*), max(quarantine_id) FROM {_quoted(conn, 'quarantine', table)} "
                "WHERE status = ANY(:reviewed) AND reviewed_at < :cutoff"),
                {"reviewed": list(REVIEWED), "cutoff": cutoff}).one()
            if count:
                yield Candidate(
                    data_type=policy.data_type, kind="quarantine_rows", key=f"quarantine.{table}",
                    reason=f"{count} rows reviewed (accepted/replayed) before the {policy.retention_days:g}-day cutoff",
                    size=count, extra={"schema": "quarantine", "table": table, "max_id": max_id,
                                       "cutoff": cutoff.isoformat(), "rows": count})


def blocked_by_downstream(candidate: Candidate, downstream_built_at: Callable[[str], datetime | None]) -> str | None:
    """Why a staged batch must stay, or None: downstream must be built from a later batch."""
    built = downstream_built_at(candidate.extra["table"])
    if built is None:
        return None
    if built < datetime.fromisoformat(candidate.extra["next_loaded"]):
        return (f"downstream assets were last built {built.isoformat()}, before the later batch was loaded: "
                "they may still be built from this batch")
    return None


def delete_rows(engine: sa.Engine, cleanup_id: str, candidate: Candidate, batch_size: int, archive_rows: bool,
                on_chunk: Callable[[int], None] | None = None) -> int:
    """Move the candidate's rows to the archive and delete them, one commit per chunk; returns rows deleted."""
    schema, table = candidate.extra["schema"], candidate.extra["table"]
    if candidate.kind == "staged_batch":
        where = BATCH_ROWS
        params = {"batch": candidate.extra["batch_id"], "table": table}
    else:
        where = sql.SQL("status = ANY(%(reviewed)s) AND reviewed_at < %(cutoff)s AND quarantine_id <= %(max_id)s")
        params = {"reviewed": list(REVIEWED), "cutoff": datetime.fromisoformat(candidate.extra["cutoff"]),
                  "max_id": candidate.extra["max_id"]}
    return delete_in_chunks(engine, cleanup_id, schema, table, where, params, batch_size, archive_rows, on_chunk)


def delete_in_chunks(engine: sa.Engine, cleanup_id: str, schema: str, table: str, where: sql.Composable,
                     params: dict, batch_size: int, archive_rows: bool,
                     on_chunk: Callable[[int], None] | None = None) -> int:
    """Move rows matching `where` to the archive and delete them, `batch_size` rows per commit."""
    total = 0
    with archive.psycopg_connection(engine) as conn:
        while True:
            with conn.transaction():
                deleted = _delete_chunk(conn, cleanup_id, schema, table, where, params, batch_size, archive_rows)
            total += deleted
            if on_chunk and deleted:
                on_chunk(deleted)
            if deleted < batch_size:
                return total


def _delete_chunk(conn, cleanup_id, schema, table, where, params, batch_size, archive_rows) -> int:
    source = sql.Identifier(schema, table)
    if archive_rows:
        target, columns = archive.ensure_archive_table(conn, schema, table)
        cols = archive.column_list(columns)
        statement = sql.SQL(
            "WITH doomed AS (SELECT ctid FROM {s} WHERE {w} LIMIT %(limit)s FOR UPDATE), "
            "moved AS (DELETE FROM {s} t USING doomed d WHERE t.ctid = d.ctid RETURNING t.*) "
            "INSERT INTO {a} (_cleanup_id, {c}) SELECT %(cid)s, {c} FROM moved").format(
            s=source, w=where, a=target, c=cols)
    else:
        statement = sql.SQL(
            "WITH doomed AS (SELECT ctid FROM {s} WHERE {w} LIMIT %(limit)s FOR UPDATE) "
            "DELETE FROM {s} t USING doomed d WHERE t.ctid = d.ctid").format(s=source, w=where)
    cursor = conn.execute(statement, {**params, "limit": batch_size, "cid": cleanup_id})
    return cursor.rowcount or 0
