"""Event sensors: a file landing in a folder, and new rows in a source table.

Each sensor targets its pipeline's job, so runs carry the job's priority, destination and
concurrency tags and queue like any other run of the pipeline.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from cleanops.pipelines.loader import LoadedPipeline
from cleanops.pipelines.naming import ingestion_run_config
from cleanops.pipelines.schema import FileArrivalTrigger, NewRowsTrigger
from cleanops.scheduling import landing
from cleanops.scheduling.policy import TRIGGER_TAG, is_active
from cleanops.sources.files import file_sha256
from cleanops.sources.sql import connection_url, connection_variable
from cleanops.warehouse import WarehouseResource, engine_for_pipeline

# A file modified this recently may still be being written; it is picked up on a later tick.
SETTLE_SECONDS = 0.5


def _status(pipeline: LoadedPipeline) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if is_active(pipeline.spec) else dg.DefaultSensorStatus.STOPPED


def sensor_name(pipeline: LoadedPipeline, kind: str, index: int) -> str:
    """`<pipeline slug>__<kind>`; the prefix is how `cleanops pipelines pause` finds them."""
    suffix = f"_{index + 1}" if index else ""
    return f"{pipeline.spec.slug}__{kind}{suffix}"


# --- file arrival ------------------------------------------------------------------------

def _read_cursor(raw: str | None) -> dict[str, list]:
    """File name → [size, mtime_ns, sha256] of files already requested and still waiting."""
    return json.loads(raw) if raw else {}


def file_run_request(folder: landing.LandingFolder, pipeline: LoadedPipeline,
                     batch: list[tuple[Path, str]]) -> dg.RunRequest:
    """One run that loads exactly these files. The run key is derived from their content
    hashes, so the same content seen again never starts a second run from this sensor."""
    hashes = sorted(sha for _, sha in batch)
    key = hashes[0] if len(hashes) == 1 else hashlib.sha256("".join(hashes).encode()).hexdigest()
    names = [path.name for path, _ in batch]
    return dg.RunRequest(
        run_key=f"{folder.source.id}:{key}",
        run_config=ingestion_run_config(pipeline.spec.slug,
                                        {folder.source.id: {"files": [str(path) for path, _ in batch]}}),
        tags={TRIGGER_TAG: "file_arrival", "cleanops/files": json.dumps(names)[:4000],
              "cleanops/file_count": str(len(names))},
    )


def already_loaded(pipeline: LoadedPipeline, source_id: str, hashes: list[str],
                   warehouse: WarehouseResource | None = None) -> set[str]:
    """Hashes the file ledger already holds: content that was loaded before is not requested again."""
    if not hashes:
        return set()
    try:
        with engine_for_pipeline(pipeline.spec, warehouse).connect() as conn:
            return set(conn.scalars(sa.text(
                "SELECT sha256 FROM cleanops.loaded_files WHERE pipeline_id = :p AND source_id = :s "
                "AND sha256 = ANY(:hashes)"), {"p": pipeline.spec.pipeline_id, "s": source_id, "hashes": hashes}))
    except (sa.exc.SQLAlchemyError, ValueError):  # the load checks the ledger again anyway
        return set()


def _changed_files(folder: landing.LandingFolder, cursor: dict[str, list]) -> tuple[list, dict[str, list]]:
    """(path, sha256) of files not in the cursor as they are now, and the cursor of every waiting file."""
    changed, next_cursor = [], {}
    now = time.time()
    for path in folder.waiting_files():
        try:
            stat = path.stat()
            known = cursor.get(path.name)
            if known and known[:2] == [stat.st_size, stat.st_mtime_ns]:
                next_cursor[path.name] = known
            elif now - stat.st_mtime >= SETTLE_SECONDS:
                sha256 = file_sha256(path)
                next_cursor[path.name] = [stat.st_size, stat.st_mtime_ns, sha256]
                changed.append((path, sha256))
        except FileNotFoundError:  # moved away by a run between listing and reading
            continue
    return changed, next_cursor


def scan_landing_folder(folder: landing.LandingFolder, pipeline: LoadedPipeline, cursor: dict[str, list],
                        max_files_per_run: int, warehouse: WarehouseResource | None = None,
                        ) -> tuple[list[dg.RunRequest], dict[str, list]]:
    """New run requests and the next cursor. Files that left the folder drop out of the cursor;
    content already loaded, already requested, or twice in this tick is requested once at most."""
    changed, next_cursor = _changed_files(folder, cursor)
    changed_names = {path.name for path, _ in changed}
    skip = already_loaded(pipeline, folder.source.id, [sha for _, sha in changed], warehouse)
    skip |= {entry[2] for name, entry in next_cursor.items() if name not in changed_names}
    batch = []
    for path, sha in changed:
        if sha not in skip:
            skip.add(sha)
            batch.append((path, sha))
    chunks = [batch[i:i + max_files_per_run] for i in range(0, len(batch), max_files_per_run)]
    return [file_run_request(folder, pipeline, chunk) for chunk in chunks], next_cursor


def build_file_arrival_sensor(pipeline: LoadedPipeline, trigger: FileArrivalTrigger, index: int) -> dg.SensorDefinition:
    folder = landing.landing_folder(pipeline, trigger)

    def evaluate(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        requests, cursor = scan_landing_folder(folder, pipeline, _read_cursor(context.cursor),
                                               trigger.max_files_per_run, warehouse)
        if not requests:
            return dg.SensorResult(skip_reason=f"no new files matching {folder.pattern} in {folder.folder}",
                                   cursor=json.dumps(cursor))
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor))

    return dg.SensorDefinition(
        name=sensor_name(pipeline, "file_arrival", index),
        evaluation_fn=evaluate,
        job_name=pipeline.spec.slug,
        minimum_interval_seconds=trigger.interval_seconds,
        default_status=_status(pipeline),
        description=f"Runs {pipeline.spec.pipeline_id} once per file matching {folder.pattern} in {folder.folder}",
    )


# --- new rows ----------------------------------------------------------------------------

def _marker(value) -> str:
    return value.isoformat() if isinstance(value, (dt.datetime, dt.date)) else str(value)


def read_watermark(trigger: NewRowsTrigger) -> str | None:
    """The watermark query's single value, as text (None while the table is empty)."""
    url = connection_url(trigger.connection)
    if url is None:
        raise LookupError(f"connection {trigger.connection!r} is not configured: "
                          f"set {connection_variable(trigger.connection)}")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            value = conn.execute(sa.text(trigger.watermark_query)).scalar()
    finally:
        engine.dispose()
    return None if value is None else _marker(value)


def build_new_rows_sensor(pipeline: LoadedPipeline, trigger: NewRowsTrigger, index: int) -> dg.SensorDefinition:
    def evaluate(context: dg.SensorEvaluationContext):
        try:
            watermark = read_watermark(trigger)
        except LookupError as error:
            return dg.SkipReason(str(error))
        if watermark is None:
            return dg.SkipReason("the watermark query returned no value (no rows yet)")
        if watermark == context.cursor:
            return dg.SkipReason(f"no new rows since {watermark}")
        request = dg.RunRequest(run_key=f"new_rows:{watermark}",
                                tags={TRIGGER_TAG: "new_rows", "cleanops/watermark": watermark[:63]})
        return dg.SensorResult(run_requests=[request], cursor=watermark)

    return dg.SensorDefinition(
        name=sensor_name(pipeline, "new_rows", index),
        evaluation_fn=evaluate,
        job_name=pipeline.spec.slug,
        minimum_interval_seconds=trigger.interval_seconds,
        default_status=_status(pipeline),
        description=f"Runs {pipeline.spec.pipeline_id} when `{trigger.watermark_query}` changes",
    )
