"""A snapshot as JSON (the seed's shape) or Prometheus text exposition (the table is the CLI's)."""

from __future__ import annotations

import json

from cleanops.monitoring.snapshot import GROUPS, MetricsSnapshot

PROMETHEUS_PREFIX = {"system_metrics": "cleanops_", "pipeline_metrics": "cleanops_pipeline_",
                     "cleanup_metrics": "cleanops_cleanup_"}
NOW = {"queued_runs"}  # pipeline figures that describe the present, not the window


def as_json(snapshot: MetricsSnapshot) -> str:
    return json.dumps(snapshot.to_dict(), indent=2)


def gauge_name(group: str, name: str) -> str:
    """cleanops_cpu_usage_percent, cleanops_pipeline_total_executions_24h, cleanops_cleanup_files_removed
    (cleanup_operations becomes cleanops_cleanup_operations, not ..._cleanup_cleanup_...)."""
    prefix = PROMETHEUS_PREFIX[group]
    return prefix + name.removeprefix(prefix.removeprefix("cleanops_"))


def as_prometheus(snapshot: MetricsSnapshot) -> str:
    """One gauge per measured figure in a registry of its own; an unmeasured one (None) is left out."""
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    registry = CollectorRegistry(auto_describe=True)
    window = f"over the last {snapshot.window_seconds} s"
    for group in GROUPS:
        for name, value in getattr(snapshot, group).items():
            if value is None:
                continue
            scope = "now" if group == "system_metrics" or name in NOW else window
            Gauge(gauge_name(group, name), f"CleanOps {group.split('_')[0]} {name.replace('_', ' ')} ({scope})",
                  registry=registry).set(value)
    Gauge("cleanops_metrics_collected_timestamp_seconds", "When these figures were collected (Unix time)",
          registry=registry).set(snapshot.timestamp.timestamp())
    return generate_latest(registry).decode()
