"""The overview of `cleanops status`: the seed's Dashboard Overview as one JSON-able dict.

Every figure comes from a function another command already uses: the window's counts,
success rate, durations and data processed from `monitoring.pipelines` (as `cleanops
metrics`), schedules and sensors from `scheduling.control.schedule_rows` (as `cleanops
schedules list`: stored instigator state, no workspace load), next runs from the
pipeline's cron (`control.next_runs`), and each pipeline's latest run from
`monitoring.runs`. Cost: a handful of SQL counts, the metrics' paged pass over the
window's finished runs, and two single-row queries per pipeline.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg
import sqlalchemy as sa

from cleanops.monitoring import pipelines, runs
from cleanops.pipelines.loader import LoadedPipeline, load_pipelines
from cleanops.scheduling import control, definitions

DAY = timedelta(hours=24)
ALERT_STATUSES = ("active", "acknowledged")
ALERT_ORDER = ("last_seen", "last_seen_at", "first_seen", "first_seen_at", "created_at")
MAX_ALERTS = 100
PERFORMANCE = ("total_executions_24h", "success_rate_percent", "avg_execution_time_seconds",
               "p95_execution_time_seconds", "total_data_processed_gb", "data_processed_mb",
               "records_processed", "records_rejected")


def _jsonable(value):
    if isinstance(value, datetime):
        return runs.iso(value)
    if isinstance(value, (str, int, float, bool, list, dict)) or value is None:
        return value
    return str(value)  # Decimal, UUID


def active_alerts(engine: sa.Engine, limit: int = MAX_ALERTS) -> list[dict]:
    """Alerts still active or acknowledged, newest first; [] while `cleanops.alerts` does not exist.

    The alerting area owns that table; this reads whatever columns it has, so the overview
    works before, and keeps working after, alerting lands.
    """
    with engine.connect() as conn:
        if conn.scalar(sa.text("SELECT to_regclass('cleanops.alerts')")) is None:
            return []
        columns = set(conn.scalars(sa.text(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'cleanops' AND table_name = 'alerts'")))
        if "status" not in columns:
            return []
        order = next((f"{column} DESC" for column in ALERT_ORDER if column in columns), "1")
        rows = conn.execute(sa.text(
            f"SELECT * FROM cleanops.alerts WHERE status IN :statuses ORDER BY {order} LIMIT :limit")
            .bindparams(sa.bindparam("statuses", expanding=True)),
            {"statuses": list(ALERT_STATUSES), "limit": limit}).mappings().all()
    return [{key: _jsonable(value) for key, value in row.items()} for row in rows]


def next_run(pipeline: LoadedPipeline, row: control.ScheduleRow) -> str | None:
    """The next cron tick, when the pipeline's schedule exists and is running."""
    if row.instigators.get(definitions.schedule_name(pipeline)) != "running":
        return None
    return runs.iso(control.next_runs(pipeline, 1)[0])


def execution(instance: dg.DagsterInstance, pipeline: LoadedPipeline, row: control.ScheduleRow,
              now: float) -> dict:
    """One line of the recent executions: the pipeline's latest run and its next one."""
    record = runs.latest_run(instance, pipeline.spec.pipeline_id)
    latest = runs.run_row(record, now) if record else None
    return {"pipeline_id": pipeline.spec.pipeline_id, "name": pipeline.spec.name or pipeline.spec.pipeline_id,
            "status": latest["status"] if latest else None, "run_id": latest["run_id"] if latest else None,
            "duration_seconds": latest["duration_seconds"] if latest else None,
            "last_run": (latest["started_at"] or latest["created_at"]) if latest else None,
            "next_run": next_run(pipeline, row), "trigger": row.kind, "overdue": row.overdue}


def overview(instance: dg.DagsterInstance, engine: sa.Engine, window: timedelta = DAY) -> dict:
    """Everything `cleanops status` shows; the keys are documented in docs/monitoring.md."""
    now = datetime.now(timezone.utc)
    figures = pipelines.pipeline_metrics(instance, now - window)
    rows = control.schedule_rows(instance)
    loaded = {pipeline.spec.pipeline_id: pipeline for pipeline in load_pipelines().pipelines}
    executions = [execution(instance, loaded[row.pipeline_id], row, now.timestamp())
                  for row in rows if row.pipeline_id in loaded]
    executions.sort(key=lambda line: line["last_run"] or "", reverse=True)
    return {
        "timestamp": runs.iso(now),
        "window_seconds": int(window.total_seconds()),
        "counts": {"running": pipelines.runs_in_progress(instance), "queued": figures["queued_runs"],
                   "scheduled": sum(1 for row in rows if "running" in row.instigators.values()),
                   "failed": figures["failed_executions_24h"], "completed": figures["successful_executions_24h"],
                   "canceled": figures["canceled_executions_24h"]},
        "performance": {key: figures[key] for key in PERFORMANCE},
        "recent_executions": executions,
        "active_alerts": active_alerts(engine),
    }
