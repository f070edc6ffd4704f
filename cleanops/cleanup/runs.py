"""Dagster runs: terminal runs past retention, with their event logs and compute logs.

Runs are chosen through the instance API (`get_run_records` with a status and
`created_before` filter), so only SUCCESS, FAILURE or CANCELED runs are ever seen: never a
queued, starting or running one. A run that holds the latest materialization of an asset
or of an asset partition is kept, and so is the latest run that targeted an asset
(`asset_keys.last_run_id`, possibly a failed one), so the UI and the asset graph never
lose their current state.

Deletion is set-based, in the instance database, one transaction per batch: the rows of
`runs`, `run_tags`, `event_logs`, `asset_event_tags` and `asset_check_executions` are
moved into `cleanops_archive` (one DELETE ... RETURNING feeding an INSERT per table), after re-checking each run's
status, age and materialization role inside the transaction. That is what lets a
cleanup remove 20,000 runs far faster than a loop over `instance.delete_run`.

Those statements know Dagster's storage tables, which are not a public API. They run only
when the instance database's schema revision (its `alembic_version`, which Dagster stamps on
every storage migration) is the one they were written for (`FAST_PATH_SCHEMA`). On any other
revision runs are deleted one by one through the public `instance.delete_run`, without
archiving their rows, and event-log chatter is left alone; a warning says so.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone

import sqlalchemy as sa
from psycopg import sql

from cleanops import settings
from cleanops.cleanup import archive, files
from cleanops.cleanup.models import Candidate
from cleanops.cleanup.policies import TERMINAL_STATUSES, Policy

PAGE = 1000
# The Dagster storage schema (alembic revision of the instance database, dagster 1.13.27) the
# set-based statements below were written and tested against.
FAST_PATH_SCHEMA = "29b539ebc72a"

logger = logging.getLogger(__name__)
# Tables holding a run's rows, in the order restore re-inserts them (runs before its tags).
RUN_TABLES = ("runs", "run_tags", "event_logs", "asset_event_tags", "asset_check_executions")


def instance_engine() -> sa.Engine:
    """The Dagster instance database, through psycopg 3 like the warehouse (the process's shared
    `WarehouseResource`, for callers that pass no engine)."""
    from cleanops import warehouse

    return warehouse.default().instance_engine()


def dagster_instance():
    import dagster as dg

    from cleanops.db import connection

    connection.apply_environment()
    return dg.DagsterInstance.get()


def storage_schema(engine: sa.Engine) -> str | None:
    """The alembic revision Dagster stamped on the instance database (None before its first use)."""
    with engine.connect() as conn:
        if conn.scalar(sa.text("SELECT to_regclass('alembic_version')")) is None:
            return None
        return conn.scalar(sa.text("SELECT version_num FROM alembic_version"))


_warned: set[str | None] = set()


def fast_path_ok(engine: sa.Engine) -> bool:
    """Whether the instance database has the schema the set-based statements know (warns once if not)."""
    schema = storage_schema(engine)
    if schema == FAST_PATH_SCHEMA:
        return True
    if schema not in _warned:
        _warned.add(schema)
        logger.warning("Dagster storage schema is %s, not %s that cleanup's set-based deletion was written for: "
                       "runs are deleted one by one through instance.delete_run (slower, not archived, so not "
                       "restorable) and event-log chatter is kept", schema, FAST_PATH_SCHEMA)
    return False


def protected_run_ids(engine: sa.Engine) -> set[str]:
    """Runs that hold the latest materialization of an asset or of an asset partition, the
    latest run that targeted an asset, or the latest evaluation of an asset check."""
    with engine.connect() as conn:
        if conn.scalar(sa.text("SELECT to_regclass('event_logs')")) is None:
            return set()
        latest = set(conn.scalars(sa.text("""
            SELECT DISTINCT run_id FROM (
                SELECT DISTINCT ON (asset_key, coalesce(partition, '')) run_id FROM event_logs
                WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key IS NOT NULL
                ORDER BY asset_key, coalesce(partition, ''), id DESC) latest
            UNION SELECT last_run_id FROM asset_keys WHERE last_run_id IS NOT NULL""")))
        if conn.scalar(sa.text("SELECT to_regclass('asset_check_executions')")) is not None:
            latest |= set(conn.scalars(sa.text("""
                SELECT DISTINCT ON (asset_key, check_name, coalesce(partition, '')) run_id
                FROM asset_check_executions WHERE run_id IS NOT NULL
                ORDER BY asset_key, check_name, coalesce(partition, ''), id DESC""")))
    return latest


def scan_policy(instance, policy: Policy, cutoff: datetime) -> Iterator[Candidate]:
    """Terminal runs of the policy's statuses created before the cutoff whose job matches a pattern."""
    import dagster as dg

    statuses = [dg.DagsterRunStatus[s] for s in policy.statuses if s in TERMINAL_STATUSES]
    if not statuses:
        return
    job_patterns = policy.patterns or ["*"]
    literal = [p for p in job_patterns if not any(ch in p for ch in "*?[")]
    job_name = literal[0] if len(job_patterns) == 1 and literal else None  # let the database filter by job
    cursor = None
    while True:
        records = instance.get_run_records(
            filters=dg.RunsFilter(statuses=statuses, created_before=cutoff, job_name=job_name), limit=PAGE,
            cursor=cursor)
        for record in records:
            run = record.dagster_run
            if not any(fnmatch.fnmatchcase(run.job_name, p) for p in job_patterns):
                continue
            created = record.create_timestamp.astimezone(timezone.utc).isoformat()
            yield Candidate(
                data_type=policy.data_type, kind="run", key=run.run_id,
                reason=f"{run.status.value} run of {run.job_name} created {created}, before the "
                       f"{policy.retention_days:g}-day cutoff",
                extra={"status": run.status.value, "job": run.job_name, "created": created,
                       "cutoff": cutoff.isoformat()})
        if len(records) < PAGE:
            return
        cursor = records[-1].dagster_run.run_id


def compute_log_candidates(run_ids: Iterable[str], data_type: str) -> Iterator[Candidate]:
    """The captured stdout/stderr files of these runs (deleted only with their run)."""
    root = os.fsencode(str(settings.paths().compute_logs))
    for run_id in run_ids:
        if not run_id or "/" in run_id or run_id.startswith("."):
            continue
        folder = os.path.join(root, os.fsencode(run_id))
        for candidate in files.scan_root(folder, [b"*"], 0, data_type, f"compute log of run {run_id}",
                                         owner=run_id, match_all_ages=True):
            candidate.root = os.fsdecode(root)
            yield candidate


def delete_batch(engine: sa.Engine, cleanup_id: str, candidates: list[Candidate], archive_rows: bool,
                 protected: set[str], instance=None) -> dict[str, tuple[str, str, int]]:
    """Archive and delete a batch of runs in one transaction; returns run_id -> (status, detail, bytes).

    A run's age never changes, so `created_before` at scan time settles it; its status
    and its role as the latest materialization can change, so both are checked again
    here, under FOR UPDATE, in the transaction that deletes it. On a storage schema the
    statements do not know, `delete_through_instance` does the work instead.
    """
    if not fast_path_ok(engine):
        return delete_through_instance(instance or dagster_instance(), candidates, protected)
    wanted = [c.key for c in candidates if c.key not in protected]
    outcome = {c.key: ("skipped", "holds the latest materialization of an asset", 0)
               for c in candidates if c.key in protected}
    with archive.psycopg_connection(engine) as conn:
        with conn.transaction():
            rows = conn.execute(
                "SELECT run_id, status FROM runs WHERE run_id = ANY(%s) FOR UPDATE",
                (wanted,)).fetchall()
            found = {r[0]: r for r in rows}
            still_latest = {r[0] for r in conn.execute(
                "SELECT last_run_id FROM asset_keys WHERE last_run_id = ANY(%s)", (wanted,)).fetchall()}
            doomed = []
            for run_id in wanted:
                row = found.get(run_id)
                if row is None:
                    outcome[run_id] = ("skipped", "already gone", 0)
                elif row[1] not in TERMINAL_STATUSES:
                    outcome[run_id] = ("skipped", f"status is now {row[1]}", 0)
                elif run_id in still_latest:
                    outcome[run_id] = ("skipped", "holds the latest materialization of an asset", 0)
                else:
                    doomed.append(run_id)
            sizes = _move(conn, cleanup_id, doomed, archive_rows) if doomed else {}
            for run_id in doomed:
                outcome[run_id] = ("deleted", "", sizes.get(run_id, 0))
    return outcome


NOT_ARCHIVED = "deleted through instance.delete_run, not archived (unknown Dagster storage schema)"


def delete_through_instance(instance, candidates: list[Candidate], protected: set[str]) -> dict[str, tuple[str, str, int]]:
    """Delete runs one by one with the public `instance.delete_run` (rows and events, not archived)."""
    outcome = {}
    for candidate in candidates:
        run = None if candidate.key in protected else instance.get_run_by_id(candidate.key)
        if candidate.key in protected:
            outcome[candidate.key] = ("skipped", "holds the latest materialization of an asset", 0)
        elif run is None:
            outcome[candidate.key] = ("skipped", "already gone", 0)
        elif run.status.value not in TERMINAL_STATUSES:
            outcome[candidate.key] = ("skipped", f"status is now {run.status.value}", 0)
        else:
            instance.delete_run(candidate.key)
            outcome[candidate.key] = ("deleted", NOT_ARCHIVED, 0)
    return outcome


# Tables in deletion order: tags of asset events before the events they point at, runs last.
DELETE_ORDER = ("asset_event_tags", "asset_check_executions", "event_logs", "run_tags", "runs")


def _move(conn, cleanup_id: str, run_ids: list[str], archive_rows: bool) -> dict[str, int]:
    """Delete the runs' rows table by table, each in one statement that also archives what it
    deletes (DELETE ... RETURNING feeding INSERT), and return the bytes removed per run."""
    sizes: dict[str, int] = {}
    for table in DELETE_ORDER:
        if not _existing(conn, table):
            continue
        source = sql.Identifier("public", table)
        per_run = sql.SQL("run_id") if table != "asset_event_tags" else sql.SQL("NULL::text")
        if archive_rows:
            target, columns = archive.ensure_archive_table(conn, "public", table)
            statement = sql.SQL(
                "WITH moved AS (DELETE FROM {s} WHERE {w} RETURNING *), "
                "archived AS (INSERT INTO {t} (_cleanup_id, {c}) SELECT %(cid)s, {c} FROM moved) "
                "SELECT {r}, sum(pg_column_size(moved.*)) FROM moved GROUP BY 1").format(
                s=source, w=_where(table), t=target, c=archive.column_list(columns), r=per_run)
        else:
            statement = sql.SQL(
                "WITH moved AS (DELETE FROM {s} WHERE {w} RETURNING *) "
                "SELECT {r}, sum(pg_column_size(moved.*)) FROM moved GROUP BY 1").format(
                s=source, w=_where(table), r=per_run)
        for run_id, size in conn.execute(statement, {"cid": cleanup_id, "ids": run_ids}).fetchall():
            if run_id is not None:
                sizes[run_id] = sizes.get(run_id, 0) + int(size)
    return sizes


def _where(table: str) -> sql.Composable:
    """The rows of `table` that belong to the runs in %(ids)s."""
    if table == "asset_event_tags":
        return sql.SQL("event_id IN (SELECT id FROM event_logs WHERE run_id = ANY(%(ids)s))")
    return sql.SQL("run_id = ANY(%(ids)s)")


def _existing(conn, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None


# -- event-log chatter ---------------------------------------------------------------------

# Engine chatter that no run status, asset state or UI lookup depends on (LOGS_CAPTURED,
# step and run events stay: the UI needs them to show a run and find its compute logs).
CHATTER_EVENT_TYPES = ("ENGINE_EVENT", "STEP_WORKER_STARTING", "STEP_WORKER_STARTED", "RESOURCE_INIT_STARTED",
                       "RESOURCE_INIT_SUCCESS", "STEP_INPUT", "LOADED_INPUT", "HANDLED_OUTPUT")
DEBUG_LEVEL = 10

_CHATTER_WHERE = {
    "debug messages": "dagster_event_type IS NULL AND (event::jsonb ->> 'level')::int <= %(debug)s",
    "engine events": "dagster_event_type = ANY(%(chatter)s)",
}


def _chatter_sql(category: str) -> sql.Composable:
    return sql.SQL(_CHATTER_WHERE[category] + " AND timestamp < %(cutoff)s AND id <= %(max_id)s AND run_id IN "
                   "(SELECT run_id FROM runs WHERE status = ANY(%(terminal)s) AND pipeline_name LIKE ANY(%(jobs)s))")


def like_pattern(glob: str) -> str:
    """A job-name glob (*, ?) as a SQL LIKE pattern, with LIKE's own wildcards escaped."""
    escaped = glob.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def scan_event_logs(engine: sa.Engine, policy: Policy, cutoff: datetime) -> Iterator[Candidate]:
    """DEBUG log messages and engine chatter of finished runs older than the cutoff (ids fixed now).

    Their runs stay; only the noise goes, sooner than the runs themselves, as Dagster's
    own guidance on trimming event logs suggests.
    """
    if not fast_path_ok(engine):
        return
    naive_cutoff = cutoff.astimezone(timezone.utc).replace(tzinfo=None)
    with archive.psycopg_connection(engine) as conn:
        if conn.execute("SELECT to_regclass('event_logs')").fetchone()[0] is None:
            return
        max_id = conn.execute("SELECT max(id) FROM event_logs").fetchone()[0] or 0
        for category in _CHATTER_WHERE:
            params = {"debug": DEBUG_LEVEL, "chatter": list(CHATTER_EVENT_TYPES), "cutoff": naive_cutoff,
                      "max_id": max_id, "terminal": list(TERMINAL_STATUSES),
                      "jobs": [like_pattern(p) for p in policy.patterns or ["*"]]}
            count = conn.execute(sql.SQL("SELECT count(*) FROM event_logs WHERE ") + _chatter_sql(category),
                                 params).fetchone()[0]
            if count:
                yield Candidate(data_type=policy.data_type, kind="event_rows", key=f"event_logs:{category}",
                                reason=f"{count} {category} of finished runs, older than the "
                                       f"{policy.retention_days:g}-day cutoff",
                                size=count, extra={"category": category, "cutoff": naive_cutoff.isoformat(),
                                                   "max_id": max_id, "rows": count, "jobs": params["jobs"]})


def delete_event_rows(engine: sa.Engine, cleanup_id: str, candidate: Candidate, batch_size: int,
                      archive_rows: bool, on_chunk=None) -> int:
    """Archive and delete the candidate's event rows, one commit per chunk of batch_size rows."""
    from cleanops.cleanup import warehouse

    extra = candidate.extra
    params = {"debug": DEBUG_LEVEL, "chatter": list(CHATTER_EVENT_TYPES),
              "cutoff": datetime.fromisoformat(extra["cutoff"]), "max_id": extra["max_id"],
              "terminal": list(TERMINAL_STATUSES), "jobs": extra["jobs"]}
    return warehouse.delete_in_chunks(engine, cleanup_id, "public", "event_logs", _chatter_sql(extra["category"]),
                                      params, batch_size, archive_rows, on_chunk)
