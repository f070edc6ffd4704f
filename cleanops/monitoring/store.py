"""The warehouse side of monitoring: the one engine it uses, and `cleanops.metrics_history`."""

from __future__ import annotations

import json

import sqlalchemy as sa

from cleanops.monitoring.snapshot import MetricsSnapshot


def warehouse() -> sa.Engine:
    """The warehouse, migrated: every query of this package goes through this one engine."""
    import cleanops.warehouse
    from cleanops.db import migrate

    engine = cleanops.warehouse.warehouse_engine()
    migrate.migrate(engine)
    return engine


def save(engine: sa.Engine, snapshot: MetricsSnapshot, run_id: str | None = None) -> int:
    """Append one collection to `cleanops.metrics_history`; returns its metrics_id."""
    with engine.begin() as conn:
        return conn.scalar(sa.text(
            "INSERT INTO cleanops.metrics_history (collected_at, window_seconds, system_metrics, pipeline_metrics, "
            "cleanup_metrics, run_id) VALUES (:at, :window, CAST(:system AS jsonb), CAST(:pipeline AS jsonb), "
            "CAST(:cleanup AS jsonb), :run_id) RETURNING metrics_id"),
            {"at": snapshot.timestamp, "window": snapshot.window_seconds, "run_id": run_id,
             "system": json.dumps(snapshot.system_metrics), "pipeline": json.dumps(snapshot.pipeline_metrics),
             "cleanup": json.dumps(snapshot.cleanup_metrics)})


def history(engine: sa.Engine, limit: int = 100) -> list[dict]:
    """The latest collections, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT metrics_id, collected_at, window_seconds, system_metrics, pipeline_metrics, cleanup_metrics, "
            "run_id FROM cleanops.metrics_history ORDER BY collected_at DESC LIMIT :limit"), {"limit": limit})
        return [dict(row) for row in rows.mappings()]
