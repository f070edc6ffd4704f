"""The seed's execution log (`shared/samples/execution_log.json`) for one run.

Built from `cleanops.execution_log` (one row per source load, written in the load's own
transaction) and, when the Dagster instance is at hand, the run's own record, so the
times and status are the ones the Dagster UI shows.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import sqlalchemy as sa
from dagster import RunsFilter


class RunNotFound(LookupError):
    pass


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def latest_run_id(engine: sa.Engine, pipeline_id: str | None) -> str:
    query = "SELECT run_id FROM cleanops.execution_log"
    params: dict[str, Any] = {}
    if pipeline_id:
        query += " WHERE pipeline_id = :p"
        params["p"] = pipeline_id
    run_id = None
    with engine.connect() as conn:
        run_id = conn.scalar(sa.text(query + " ORDER BY started_at DESC LIMIT 1"), params)
    if run_id is None:
        raise RunNotFound(f"no runs recorded{' for pipeline ' + pipeline_id if pipeline_id else ''}")
    return run_id


def build_execution_log(engine: sa.Engine, run_id: str, dagster_run: dict[str, Any] | None = None) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT * FROM cleanops.execution_log WHERE run_id = :r ORDER BY source_id"), {"r": run_id}).mappings().all()
    if not rows:
        raise RunNotFound(f"run {run_id} has no execution log")
    multiple = len(rows) > 1
    steps, errors, codes = [], [], Counter()
    totals = Counter()
    peak = 0.0
    for row in rows:
        metrics = row["metrics"] or {}
        for key in ("records_extracted", "records_processed", "records_failed"):
            totals[key] += metrics.get(key, 0)
        totals["data_volume_mb"] += metrics.get("data_volume_mb", 0.0)
        peak = max(peak, metrics.get("memory_usage_peak_mb", 0.0))
        for step in row["steps"] or []:
            steps.append({**step, "source": row["source_id"]} if multiple else step)
        for error in row["errors"] or []:
            errors.append({**error, "source": row["source_id"]} if multiple else error)
            codes[error["error_code"]] += error.get("count", 0)
    started = min(r["started_at"] for r in rows)
    completed = max((r["completed_at"] for r in rows if r["completed_at"]), default=None)
    status = "success" if all(r["status"] == "success" for r in rows) else "failure"
    if dagster_run:
        started = dagster_run.get("started_at") or started
        completed = dagster_run.get("completed_at") or completed
        status = dagster_run.get("status") or status
        steps.extend(dagster_run.get("later_steps", []))
    return {
        "execution_id": run_id,
        "pipeline_id": rows[0]["pipeline_id"],
        "started_at": _iso(started),
        "completed_at": _iso(completed),
        "status": status,
        "duration_seconds": round((completed - started).total_seconds(), 3) if completed else None,
        "metrics": {
            "records_extracted": totals["records_extracted"],
            "records_processed": totals["records_processed"],
            "records_failed": totals["records_failed"],
            "data_volume_mb": round(totals["data_volume_mb"], 3),
            "memory_usage_peak_mb": peak,
            "rejected_by_error_code": dict(sorted(codes.items())),
        },
        "steps": steps,
        "errors": errors,
    }


def dagster_run_summary(instance, run_id: str) -> dict[str, Any] | None:
    """Status and times of a run from the Dagster instance, in the execution log's words."""
    records = instance.get_run_records(filters=RunsFilter(run_ids=[run_id]), limit=1)
    if not records:
        return None
    record = records[0]
    status = record.dagster_run.status.value.lower()
    status = {"success": "success", "failure": "failure", "canceled": "cancelled"}.get(status, status)
    as_time = lambda ts: dt.datetime.fromtimestamp(ts, dt.timezone.utc) if ts else None  # noqa: E731
    return {"status": status, "started_at": as_time(record.start_time), "completed_at": as_time(record.end_time),
            "later_steps": _later_steps(instance, run_id, as_time)}


def _later_steps(instance, run_id: str, as_time) -> list[dict[str, Any]]:
    """The run's steps after ingestion (dbt models, checks), from Dagster's own step stats."""
    steps = []
    for stat in instance.get_run_step_stats(run_id):
        if stat.step_key.startswith("staging__"):
            continue  # ingestion steps are logged in detail by the load itself
        name = ("transformation" if "dbt" in stat.step_key
                else "quality_checks" if stat.step_key.startswith("ge_") else stat.step_key)
        started, ended = as_time(stat.start_time), as_time(stat.end_time)
        steps.append({
            "step": name, "dagster_step": stat.step_key,
            "started_at": _iso(started), "completed_at": _iso(ended),
            "duration_seconds": round(stat.end_time - stat.start_time, 3) if stat.end_time and stat.start_time else None,
            "status": stat.status.value.lower() if stat.status else "unknown",
            "records_materialized_assets": len(stat.materialization_events),
        })
    return sorted(steps, key=lambda step: step["started_at"] or "")
