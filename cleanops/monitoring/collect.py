"""The one collection of metrics, used by the `cleanops_metrics` asset and `cleanops metrics`."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from cleanops.monitoring import cleanup, pipelines, system
from cleanops.monitoring.snapshot import MetricsSnapshot

DEFAULT_WINDOW = timedelta(hours=24)


def collect(instance, engine: sa.Engine, window: timedelta = DEFAULT_WINDOW, *,
            disk_path: str | os.PathLike | None = None, exclude_run_id: str | None = None,
            sample_seconds: float = system.DEFAULT_SAMPLE_SECONDS) -> MetricsSnapshot:
    """System figures now, pipeline and cleanup figures over the last `window`.

    `instance` is the Dagster instance, `engine` the warehouse (monitoring.store.warehouse());
    `disk_path` defaults to CLEANOPS_HOME; `exclude_run_id` is the collecting run, not counted
    as an active pipeline.
    """
    from cleanops import settings

    now = datetime.now(timezone.utc)
    since = now - window
    host = system.system_metrics(disk_path if disk_path is not None else settings.paths().home, sample_seconds)
    active = pipelines.activity(instance, exclude_run_id)
    return MetricsSnapshot(
        timestamp=now, window_seconds=int(window.total_seconds()),
        system_metrics={**{k: host[k] for k in ("cpu_usage_percent", "memory_usage_percent", "disk_usage_percent",
                                                  "network_io_mbps")},
                        **active, "network_io_bytes_per_second": host["network_io_bytes_per_second"]},
        pipeline_metrics=pipelines.pipeline_metrics(instance, since, exclude_run_id, active["queued_tasks"]),
        cleanup_metrics=cleanup.cleanup_metrics(engine, since))
