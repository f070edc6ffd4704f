"""Runs of the Dagster instance as rows for `cleanops runs list`, `cleanops status` and `cleanops logs`.

Every filter is done by the run storage (`RunsFilter`: pipeline tag, statuses, creation
time) with a `limit`, so listing the latest 50 runs reads 50 records whatever the size of
the instance. A pipeline's runs are those tagged `cleanops/pipeline: <pipeline_id>`: its
job carries the tag (scheduling.policy.run_tags), so scheduled, sensor, triggered, CLI and
UI runs of the job have it, and so do the quarantine replays that rebuild its dbt models
through another job.
"""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg

from cleanops.scheduling.policy import PIPELINE_TAG, TRIGGER_TAG

STATUSES = tuple(status.value.lower() for status in dg.DagsterRunStatus)


def iso(value: datetime | float | None) -> str | None:
    """UTC ISO 8601 with a Z, from a datetime or a POSIX timestamp."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, timezone.utc)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def runs_filter(pipeline_id: str | None = None, statuses: list[str] | None = None,
                created_after: datetime | None = None) -> dg.RunsFilter:
    return dg.RunsFilter(tags={PIPELINE_TAG: pipeline_id} if pipeline_id else {},
                         statuses=[dg.DagsterRunStatus(status.upper()) for status in statuses or ()],
                         created_after=created_after)


def trigger(tags: dict[str, str]) -> str:
    """What started the run: CleanOps' own trigger tag, else Dagster's schedule, sensor or backfill tag."""
    if tags.get(TRIGGER_TAG):
        return tags[TRIGGER_TAG]
    for tag, word in (("dagster/schedule_name", "schedule"), ("dagster/sensor_name", "sensor")):
        if tags.get(tag):
            return f"{word} {tags[tag]}"
    return "backfill" if tags.get("dagster/backfill") else "manual"


def duration_seconds(record: dg.RunRecord, now: float) -> float | None:
    """End − start; a run still going counts up to `now`; a run not started has none."""
    if record.start_time is None:
        return None
    end = record.end_time if record.end_time is not None else now
    return round(max(0.0, end - record.start_time), 3)


def run_row(record: dg.RunRecord, now: float | None = None) -> dict:
    run = record.dagster_run
    now = datetime.now(timezone.utc).timestamp() if now is None else now
    return {"run_id": run.run_id, "pipeline_id": run.tags.get(PIPELINE_TAG), "job_name": run.job_name,
            "status": run.status.value.lower(), "created_at": iso(record.create_timestamp),
            "started_at": iso(record.start_time), "ended_at": iso(record.end_time),
            "duration_seconds": duration_seconds(record, now), "trigger": trigger(dict(run.tags))}


def list_runs(instance: dg.DagsterInstance, pipeline_id: str | None = None, statuses: list[str] | None = None,
              created_after: datetime | None = None, limit: int = 50) -> list[dict]:
    """The newest `limit` runs matching the filters, newest first, as rows."""
    records = instance.get_run_records(runs_filter(pipeline_id, statuses, created_after), limit=limit)
    now = datetime.now(timezone.utc).timestamp()
    return [run_row(record, now) for record in records]


def latest_run(instance: dg.DagsterInstance, pipeline_id: str) -> dg.RunRecord | None:
    records = instance.get_run_records(runs_filter(pipeline_id), limit=1)
    return records[0] if records else None


def run_record(instance: dg.DagsterInstance, run_id: str) -> dg.RunRecord | None:
    records = instance.get_run_records(dg.RunsFilter(run_ids=[run_id]), limit=1)
    return records[0] if records else None
