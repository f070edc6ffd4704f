"""The Dagster side of monitoring: the `cleanops_metrics` asset, its job and schedule, and the
`cleanops_alerts` sensor (every 30 s, running by default: it launches no run).

Each materialization carries every figure as numeric metadata (the UI plots them over
time) and appends a row to `cleanops.metrics_history`. The schedule runs every
CLEANOPS_METRICS_INTERVAL_MINUTES (5) and is STOPPED by default: at 5 minutes it adds
288 runs a day to the instance, which a user turns on deliberately (UI, or
`dagster schedule start collect_metrics_schedule`). Nothing here does I/O at load.
"""

# no `from __future__ import annotations`: Dagster reads the asset's annotations at run time

import logging

import dagster as dg

from cleanops import settings
from cleanops.monitoring.pipelines import MONITORING_JOB

ASSET_KEY = dg.AssetKey("cleanops_metrics")
SCHEDULE_NAME = "collect_metrics_schedule"
DEFAULT_INTERVAL_MINUTES = 5

log = logging.getLogger(__name__)


class MetricsConfig(dg.Config):
    """The window the pipeline and cleanup figures cover."""

    window_hours: float = 24.0


def metadata_for(figures: dict) -> dict[str, dg.MetadataValue]:
    """Numbers as int or float metadata (booleans are not figures and are left out)."""
    return {name: dg.MetadataValue.int(value) if isinstance(value, int) else dg.MetadataValue.float(float(value))
            for name, value in figures.items() if isinstance(value, (int, float)) and not isinstance(value, bool)}


@dg.asset(key=ASSET_KEY, group_name="monitoring", kinds={"postgres"},
          description="System, pipeline and cleanup metrics (as `cleanops metrics`), plotted from the "
                      "materialization metadata and kept in cleanops.metrics_history.")
def cleanops_metrics(context: dg.AssetExecutionContext, config: MetricsConfig) -> dg.MaterializeResult:
    from datetime import timedelta

    from cleanops.monitoring import store
    from cleanops.monitoring.collect import collect

    engine = store.warehouse()
    snapshot = collect(context.instance, engine, timedelta(hours=config.window_hours), exclude_run_id=context.run_id)
    metrics_id = store.save(engine, snapshot, context.run_id)
    return dg.MaterializeResult(metadata={**metadata_for(snapshot.figures()),
                                          "metrics_id": dg.MetadataValue.int(metrics_id),
                                          "collected_at": dg.MetadataValue.text(snapshot.to_dict()["timestamp"])})


metrics_job = dg.define_asset_job(MONITORING_JOB, selection=[ASSET_KEY], tags={"cleanops/area": "monitoring"},
                                  description="Collects the metrics of `cleanops metrics` into the asset and history.")


def interval_minutes() -> int:
    """CLEANOPS_METRICS_INTERVAL_MINUTES; a bad value is logged and the default used, so it
    cannot stop the code location (every pipeline) from loading."""
    try:
        return settings.metrics_interval_minutes()
    except ValueError as error:
        log.warning("%s; collecting every %d minutes", error, DEFAULT_INTERVAL_MINUTES)
        return DEFAULT_INTERVAL_MINUTES


def cron_every(minutes: int) -> str:
    """`*/N * * * *` under an hour, `0 */H * * *` for whole hours."""
    return f"*/{minutes} * * * *" if minutes < 60 else f"0 */{minutes // 60} * * *"


def build_schedule() -> dg.ScheduleDefinition:
    minutes = interval_minutes()
    return dg.ScheduleDefinition(
        name=SCHEDULE_NAME, job=metrics_job, cron_schedule=cron_every(minutes),
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Collects metrics every {minutes} minutes (CLEANOPS_METRICS_INTERVAL_MINUTES); "
                    "stopped until started.")


def build() -> dg.Definitions:
    """The monitoring area (cleanops/defs/monitoring/)."""
    return dg.Definitions(assets=[cleanops_metrics], jobs=[metrics_job], schedules=[build_schedule()],
                          sensors=[alerts_sensor])


ALERTS_SENSOR = "cleanops_alerts"
ALERTS_INTERVAL_SECONDS = 30


@dg.sensor(name=ALERTS_SENSOR, minimum_interval_seconds=ALERTS_INTERVAL_SECONDS,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Raises, bumps and resolves alerts in cleanops.alerts from run failures and failed checks "
                       "since its cursor, and sends their notifications (docs/monitoring.md, Alerts).")
def alerts_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Launches nothing: one cheap evaluation (four indexed queries when nothing happened)."""
    from cleanops.monitoring import store
    from cleanops.monitoring.alerts.evaluate import evaluate

    outcome = evaluate(context.instance, store.warehouse(), context.cursor)
    context.update_cursor(outcome.cursor)
    return dg.SkipReason(outcome.summary())
