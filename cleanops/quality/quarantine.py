"""Quarantine review: list, export, replay under the current rules, or accept.

Replay is ingestion again for rows that once failed: the raw records are re-validated with
`Validator` under the pipeline's *current* rules and the passing rows are staged with
`Stager` as a batch of their own (`replay-<uuid>`), so the next pipeline run carries them
through dbt like any new batch. The staging insert and the quarantine status change commit
in one transaction with the quarantine rows locked, so a row is never in neither table, and
the rows that still fail stay `new` with their original error.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from itertools import groupby
from typing import Iterator

import pyarrow as pa
import sqlalchemy as sa
from psycopg import sql

from cleanops.db import migrate
from cleanops.ingestion.stage import Stager
from cleanops.ingestion.validate import ValidatedChunk, Validator
from cleanops.pipelines.loader import LoadedPipeline
from cleanops.pipelines.naming import staging_table_name
from cleanops.sources.base import SourceChunk, to_text
from cleanops.warehouse import WarehouseResource, engine_for_pipeline

STATUSES = ("new", "accepted", "replayed")
UNREPLAYABLE_KEY = "_raw_text"  # a line the reader could not split into fields


@dataclass
class ReplayReport:
    source_id: str
    batch_id: str
    examined: int = 0
    moved: int = 0
    still_failing: int = 0
    unreplayable: int = 0
    duplicates_requarantined: int = 0
    moved_ids: list[int] = field(default_factory=list)


def quarantine_table(pipeline: LoadedPipeline, source_id: str) -> sql.Identifier:
    return sql.Identifier("quarantine", staging_table_name(pipeline.spec.slug, source_id))


def _table_exists(conn: sa.Connection, schema: str, table: str) -> bool:
    return bool(conn.scalar(sa.text("SELECT to_regclass(:name) IS NOT NULL"), {"name": f'"{schema}"."{table}"'}))


def _filters(status: str | None, error_code: str | None, ids: list[int] | None) -> tuple[sql.Composable, dict]:
    clauses, params = [sql.SQL("TRUE")], {}
    if status:
        clauses.append(sql.SQL("status = %(status)s"))
        params["status"] = status
    if error_code:
        clauses.append(sql.SQL("error_code = %(code)s"))
        params["code"] = error_code
    if ids:
        clauses.append(sql.SQL("quarantine_id = ANY(%(ids)s)"))
        params["ids"] = list(ids)
    return sql.SQL(" AND ").join(clauses), params


def _execute(engine: sa.Engine, statement: sql.Composable, params: dict) -> list[dict]:
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        with pg.cursor() as cursor:
            cursor.execute(statement, params)
            rows = cursor.fetchall() if cursor.description else []
            names = [c.name for c in cursor.description] if cursor.description else []
        pg.commit()
        return [dict(zip(names, row)) for row in rows]
    finally:
        raw.close()


def _sources_with_quarantine(engine: sa.Engine, pipeline: LoadedPipeline, source_id: str | None):
    with engine.connect() as conn:
        for source in pipeline.spec.data_sources:
            if source_id and source.id != source_id:
                continue
            if _table_exists(conn, "quarantine", staging_table_name(pipeline.spec.slug, source.id)):
                yield source


def summary(pipeline: LoadedPipeline, source_id: str | None = None, *,
            warehouse: WarehouseResource | None = None) -> list[dict]:
    """Counts by source, status and error code."""
    engine = engine_for_pipeline(pipeline.spec, warehouse)
    rows = []
    for source in _sources_with_quarantine(engine, pipeline, source_id):
        statement = sql.SQL("SELECT %(source)s AS source_id, status, error_code, count(*) AS rows FROM {q} "
                            "GROUP BY status, error_code ORDER BY status, error_code").format(
            q=quarantine_table(pipeline, source.id))
        rows += _execute(engine, statement, {"source": source.id})
    return rows


def list_rows(pipeline: LoadedPipeline, *, status: str | None = None, error_code: str | None = None,
              source_id: str | None = None, limit: int | None = 100, with_raw: bool = False,
              warehouse: WarehouseResource | None = None) -> list[dict]:
    engine = engine_for_pipeline(pipeline.spec, warehouse)
    where, params = _filters(status, error_code, None)
    columns = ("quarantine_id, batch_id, source_id, origin, row_number, error_code, error_field, error_message, "
               "status, quarantined_at, reviewed_at, reviewed_by" + (", raw_record" if with_raw else ""))
    rows = []
    for source in _sources_with_quarantine(engine, pipeline, source_id):
        statement = sql.SQL("SELECT {cols} FROM {q} WHERE {where} ORDER BY quarantine_id{limit}").format(
            cols=sql.SQL(columns), q=quarantine_table(pipeline, source.id), where=where,
            limit=sql.SQL(" LIMIT %(limit)s") if limit else sql.SQL(""))
        rows += _execute(engine, statement, {**params, "limit": limit})
    return rows


def accept(pipeline: LoadedPipeline, reviewed_by: str, *, error_code: str | None = None,
           ids: list[int] | None = None, source_id: str | None = None,
           warehouse: WarehouseResource | None = None) -> int:
    """Mark `new` rows as reviewed and accepted as lost (they stay in quarantine, status `accepted`)."""
    engine = engine_for_pipeline(pipeline.spec, warehouse)
    where, params = _filters("new", error_code, ids)
    total = 0
    for source in _sources_with_quarantine(engine, pipeline, source_id):
        statement = sql.SQL("UPDATE {q} SET status = 'accepted', reviewed_at = now(), reviewed_by = %(by)s "
                            "WHERE {where} RETURNING quarantine_id").format(
            q=quarantine_table(pipeline, source.id), where=where)
        total += len(_execute(engine, statement, {**params, "by": reviewed_by}))
    return total


def replay(pipeline: LoadedPipeline, reviewed_by: str, *, error_code: str | None = None,
           ids: list[int] | None = None, source_id: str | None = None,
           warehouse: WarehouseResource | None = None) -> list[ReplayReport]:
    engine = engine_for_pipeline(pipeline.spec, warehouse)
    migrate.migrate(engine)
    return [_replay_source(engine, pipeline, source, reviewed_by, error_code, ids)
            for source in list(_sources_with_quarantine(engine, pipeline, source_id))]


def _replay_source(engine: sa.Engine, pipeline: LoadedPipeline, source, reviewed_by: str,
                   error_code: str | None, ids: list[int] | None) -> ReplayReport:
    spec = pipeline.spec
    validation = spec.validation()
    validator = Validator(validation)
    report = ReplayReport(source.id, f"replay-{uuid.uuid4()}")
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        pg.autocommit = True
        stager = Stager(pg, pipeline_id=spec.pipeline_id, pipeline_slug=spec.slug, source_id=source.id,
                        batch_id=report.batch_id, validator=validator, unique_keys=validation.unique_keys())
        with stager:
            rows = _lock_new_rows(pg, pipeline, source.id, error_code, ids)
            report.examined = len(rows)
            replayable = [r for r in rows if isinstance(r[3], dict) and UNREPLAYABLE_KEY not in r[3]]
            report.unreplayable = len(rows) - len(replayable)
            for origin, group in groupby(sorted(replayable, key=lambda r: (r[1] or "", r[0])), key=lambda r: r[1] or ""):
                report.moved_ids += _stage_passing(stager, validator, origin, list(group))
            stager.move_duplicates()
            stager.check_conservation()
            _mark_replayed(pg, pipeline, source.id, report.moved_ids, reviewed_by)
            report.moved = stager.counts.records_staged
            report.duplicates_requarantined = stager.counts.records_quarantined
            report.still_failing = report.examined - report.moved
    finally:
        raw.close()
    return report


def _lock_new_rows(pg, pipeline: LoadedPipeline, source_id: str, error_code: str | None, ids: list[int] | None):
    where, params = _filters("new", error_code, ids)
    statement = sql.SQL("SELECT quarantine_id, origin, row_number, raw_record FROM {q} WHERE {where} "
                        "ORDER BY quarantine_id FOR UPDATE").format(q=quarantine_table(pipeline, source_id),
                                                                    where=where)
    return pg.execute(statement, params).fetchall()


def records_to_chunk(records: list[dict], origin: str) -> SourceChunk:
    """Raw quarantined records as the text chunk a reader would have produced."""
    columns = list(dict.fromkeys(name for record in records for name in record))
    arrays = [pa.array([to_text(record.get(name)) for record in records], pa.string()) for name in columns]
    return SourceChunk(pa.RecordBatch.from_arrays(arrays, names=columns), origin, first_row_number=0)


def _stage_passing(stager: Stager, validator: Validator, origin: str, rows: list) -> list[int]:
    """Validate one origin's rows; stage the passing ones with their original row numbers."""
    validated = validator.validate(records_to_chunk([r[3] for r in rows], origin))
    passing = validated.valid_row_numbers.to_pylist()  # indices, since first_row_number is 0
    if not passing:
        return []
    original_numbers = pa.array([rows[i][2] for i in passing], pa.int64())
    stager.write(ValidatedChunk(validated.valid, original_numbers, [], origin), records_read=len(passing))
    return [rows[i][0] for i in passing]


def _mark_replayed(pg, pipeline: LoadedPipeline, source_id: str, moved_ids: list[int], reviewed_by: str) -> None:
    if not moved_ids:
        return
    pg.execute(sql.SQL("UPDATE {q} SET status = 'replayed', reviewed_at = now(), reviewed_by = %s "
                       "WHERE quarantine_id = ANY(%s)").format(q=quarantine_table(pipeline, source_id)),
               (reviewed_by, moved_ids))


def export_rows(pipeline: LoadedPipeline, **filters) -> Iterator[dict]:
    yield from list_rows(pipeline, limit=None, with_raw=True, **filters)
