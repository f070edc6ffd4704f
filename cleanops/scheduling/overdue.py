"""Which pipelines are overdue: no successful run within their priority window.

The same window is the assets' freshness policy (the UI's view); this is the view for code
— `cleanops schedules list` and the alerting area — read from run records.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg

from cleanops.pipelines.loader import LoadedPipeline
from cleanops.scheduling import policy


@dataclass(frozen=True)
class Freshness:
    pipeline_id: str
    priority: str
    window: dt.timedelta
    last_success: dt.datetime | None
    overdue: bool


def expects_runs(pipeline: LoadedPipeline) -> bool:
    """Only pipelines that run by themselves can be late; a manual one runs when asked."""
    spec = pipeline.spec
    return policy.is_active(spec) and (spec.schedule.type != "manual" or bool(spec.depends_on))


def last_success(instance: dg.DagsterInstance, pipeline_id: str) -> dt.datetime | None:
    records = instance.get_run_records(
        dg.RunsFilter(tags={policy.PIPELINE_TAG: pipeline_id}, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1)
    if not records or records[0].end_time is None:
        return None
    return dt.datetime.fromtimestamp(records[0].end_time, dt.timezone.utc)


def freshness(instance: dg.DagsterInstance, pipeline: LoadedPipeline, now: dt.datetime | None = None) -> Freshness:
    now = now or dt.datetime.now(dt.timezone.utc)
    window = policy.overdue_window(pipeline.spec)
    success = last_success(instance, pipeline.spec.pipeline_id)
    late = success is None or now - success > window
    return Freshness(pipeline.spec.pipeline_id, pipeline.spec.priority, window, success,
                     overdue=expects_runs(pipeline) and late)
