"""From a pipeline file to Dagster's scheduling knobs: priority, windows, pools, run tags.

Pure functions of the `PipelineSpec` so that the factory (job and asset tags), the
scheduling definitions and the CLI all derive the same values, and tests can check them
without a daemon.
"""

from __future__ import annotations

import datetime as dt
import time

import dagster as dg

from cleanops.pipelines.naming import to_identifier
from cleanops.pipelines.schema import PipelineSpec
from cleanops.scheduling import cron

# `dagster/priority`: higher is dequeued first. Medium is Dagster's default (0) so that jobs
# without a priority (cleanup, metrics) rank with medium pipelines, not below low ones.
PRIORITY_VALUES = {"critical": 2, "high": 1, "medium": 0, "low": -1}

# How long a pipeline may go without a successful run before it is overdue (the seed's
# priority windows: critical 0-2 h, high 2-8 h, medium 8-24 h, low beyond 24 h).
PRIORITY_WINDOWS = {
    "critical": dt.timedelta(hours=2),
    "high": dt.timedelta(hours=8),
    "medium": dt.timedelta(hours=24),
    "low": dt.timedelta(days=7),
}

# Rows a SQL chunk may hold per MB of a pipeline's memory budget. Text columns staged via
# Arrow and COPY buffers cost about 1 KB a row for typical 10-20 column tables, with the
# validator's masks and the COPY buffer doubling it at peak: 500 rows per MB keeps the peak
# near the budget.
ROWS_PER_MB = 500

# Run tag keys that dagster.yaml limits (see `concurrency.runs.tag_concurrency_limits`).
DESTINATION_TAG = "cleanops/destination"
MAX_CONCURRENT_TAG_PREFIX = "cleanops/max_concurrent_"
MAX_CONCURRENT_LIMITS = range(1, 9)  # one tag key per limit value, declared in dagster.yaml
PIPELINE_TAG = "cleanops/pipeline"
TRIGGER_TAG = "cleanops/trigger"


def priority_value(spec: PipelineSpec) -> int:
    return PRIORITY_VALUES[spec.priority]


def destination_key(spec: PipelineSpec) -> str | None:
    """`connection.table` of the first destination: what two pipelines must not write together."""
    if not spec.destinations:
        return None
    destination = spec.destinations[0]
    return f"{destination.connection}.{destination.table}".lower()


def pool_name(spec: PipelineSpec) -> str | None:
    """The pipeline's pool: its own `resources.pool`, else one pool per destination table.

    With `concurrency.pools.granularity: run` in dagster.yaml a run holds a slot of every
    pool its steps name for its whole duration, so two pipelines sharing a destination
    table queue behind each other instead of interleaving their writes.
    """
    if spec.resources.pool:
        return spec.resources.pool
    key = destination_key(spec)
    return f"destination__{to_identifier(key)}" if key else None


def run_tags(spec: PipelineSpec) -> dict[str, str]:
    """Tags every run of the pipeline carries, whoever starts it (schedule, sensor, CLI)."""
    tags = {
        PIPELINE_TAG: spec.pipeline_id,
        "cleanops/priority": spec.priority,
        "dagster/priority": str(priority_value(spec)),
    }
    destination = destination_key(spec)
    if destination:
        tags[DESTINATION_TAG] = destination
    if spec.resources.max_concurrent:
        tags[f"{MAX_CONCURRENT_TAG_PREFIX}{spec.resources.max_concurrent}"] = spec.pipeline_id
    if spec.resources.memory_mb:
        tags["cleanops/memory_mb"] = str(spec.resources.memory_mb)
    return tags


def sql_chunk_size(spec: PipelineSpec, configured: int) -> int:
    """A SQL source's chunk size, shrunk to fit the memory budget (never below 1,000 rows)."""
    if not spec.resources.memory_mb:
        return configured
    return max(1_000, min(configured, spec.resources.memory_mb * ROWS_PER_MB))


def cron_interval(expression: str, timezone: str) -> dt.timedelta:
    """The longest gap between two of the next few ticks of a cron expression."""
    ticks = cron.ticks(time.time(), expression, timezone)
    times = [next(ticks) for _ in range(6)]
    return max(b - a for a, b in zip(times, times[1:]))


def overdue_window(spec: PipelineSpec) -> dt.timedelta:
    """Time without success after which the pipeline is overdue.

    The priority's window, stretched for pipelines that by design run less often than
    that (a weekly medium pipeline is overdue a day after a missed weekly run, not daily).
    """
    window = PRIORITY_WINDOWS[spec.priority]
    if spec.schedule.type == "cron" and spec.schedule.expression:
        interval = cron_interval(spec.schedule.expression, spec.schedule.timezone)
        if interval > window:
            return interval + window
    return window


def freshness_policy(spec: PipelineSpec) -> dg.FreshnessPolicy:
    """The overdue window as a Dagster freshness policy: the UI marks the asset stale after it."""
    window = overdue_window(spec)
    return dg.FreshnessPolicy.time_window(fail_window=window, warn_window=window * 0.75)


def is_active(spec: PipelineSpec) -> bool:
    """Whether its schedule and sensors start RUNNING; others load STOPPED, visible but idle."""
    return spec.status == "active" and spec.schedule.enabled


def dependency_condition(spec: PipelineSpec) -> dg.AutomationCondition | None:
    """When a pipeline with `depends_on` runs: after its upstreams succeeded, never on failure.

    A failed upstream run materializes nothing, so `any_deps_updated` stays false; waiting
    while any upstream is missing or in progress keeps a half-finished upstream from
    triggering. With a cron expression the run waits for the tick *and* all upstreams
    updated since it (`on_cron`).
    """
    if not spec.depends_on:
        return None
    if spec.schedule.type == "cron" and spec.schedule.expression:
        return dg.AutomationCondition.on_cron(spec.schedule.expression, spec.schedule.timezone)
    return (
        dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("after upstream pipelines succeed")
