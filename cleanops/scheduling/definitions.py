"""Schedules, sensors and automation of one pipeline (called by cleanops.components.build).

- `schedule.type: cron` → a Dagster schedule in the pipeline's time zone;
- `schedule.type: event` → one sensor per file_arrival / new_rows trigger (external
  triggers need none: `cleanops trigger` submits a run);
- `depends_on` → an automation-condition sensor over the pipeline's assets, which starts
  a run once the upstream pipelines have updated (a cron expression then gates it).

Pipelines that are not active or whose schedule is disabled get the same definitions,
STOPPED: they show in the UI and can be started there or with `cleanops pipelines resume`.
"""

from __future__ import annotations

import logging

import dagster as dg

from cleanops import settings
from cleanops.pipelines.loader import LoadedPipeline, LoadResult
from cleanops.pipelines.naming import staging_asset_key
from cleanops.pipelines.schema import FileArrivalTrigger, NewRowsTrigger
from cleanops.scheduling import policy, sensors

logger = logging.getLogger("cleanops")

# How often dependency conditions are evaluated. Dagster's default is 30 s; tests and
# benchmarks lower it through the environment.
DEPENDENCY_INTERVAL_VARIABLE = settings.variable("dependency_interval_seconds")


def schedule_name(pipeline: LoadedPipeline) -> str:
    return f"{pipeline.spec.slug}__schedule"


def build_schedule(pipeline: LoadedPipeline) -> dg.ScheduleDefinition | None:
    """A cron schedule, unless the pipeline also `depends_on` others (then automation runs it)."""
    spec = pipeline.spec
    if spec.schedule.type != "cron" or spec.depends_on:
        return None
    status = dg.DefaultScheduleStatus.RUNNING if policy.is_active(spec) else dg.DefaultScheduleStatus.STOPPED
    return dg.ScheduleDefinition(
        name=schedule_name(pipeline),
        cron_schedule=spec.schedule.expression,
        execution_timezone=spec.schedule.timezone,
        job_name=spec.slug,
        default_status=status,
        tags={policy.TRIGGER_TAG: "schedule"},
        description=f"{spec.pipeline_id}: {spec.schedule.expression} ({spec.schedule.timezone})",
    )


def build_event_sensors(pipeline: LoadedPipeline) -> list[dg.SensorDefinition]:
    if pipeline.spec.schedule.type != "event":
        return []
    built = []
    for index, trigger in enumerate(pipeline.spec.schedule.triggers):
        try:
            if isinstance(trigger, FileArrivalTrigger):
                built.append(sensors.build_file_arrival_sensor(pipeline, trigger, index))
            elif isinstance(trigger, NewRowsTrigger):
                built.append(sensors.build_new_rows_sensor(pipeline, trigger, index))
        except ValueError as error:  # e.g. a file trigger on a pipeline without a file source
            logger.warning("%s: trigger %d skipped: %s", pipeline.file, index + 1, error)
    return built


def dependency_sensor_name(pipeline: LoadedPipeline) -> str:
    return f"{pipeline.spec.slug}__dependencies"


def build_dependency_sensor(pipeline: LoadedPipeline) -> dg.AutomationConditionSensorDefinition | None:
    """One automation sensor per downstream pipeline, so its runs carry its own priority tags
    and pausing the pipeline stops exactly its dependency runs."""
    spec = pipeline.spec
    if not spec.depends_on:
        return None
    status = dg.DefaultSensorStatus.RUNNING if policy.is_active(spec) else dg.DefaultSensorStatus.STOPPED
    return dg.AutomationConditionSensorDefinition(
        dependency_sensor_name(pipeline),
        target=dg.AssetSelection.assets(*(staging_asset_key(spec.slug, s.id) for s in spec.data_sources)),
        run_tags={**policy.run_tags(spec), policy.TRIGGER_TAG: "depends_on"},
        default_status=status,
        minimum_interval_seconds=settings.current().dependency_interval(),
        description=f"Runs {spec.pipeline_id} after {', '.join(spec.depends_on)} succeed",
    )


def build_pipeline_scheduling(pipeline: LoadedPipeline) -> tuple[list, list]:
    schedules = [s for s in [build_schedule(pipeline)] if s]
    pipeline_sensors = build_event_sensors(pipeline)
    dependency = build_dependency_sensor(pipeline)
    if dependency:
        pipeline_sensors.append(dependency)
    return schedules, pipeline_sensors


def warn_about_unknown_upstreams(result: LoadResult) -> None:
    """A `depends_on` naming no loaded pipeline can never be satisfied: say so at load time."""
    known = {p.spec.pipeline_id for p in result.pipelines}
    for pipeline in result.pipelines:
        missing = [upstream for upstream in pipeline.spec.depends_on if upstream not in known]
        if missing:
            logger.warning("%s: depends_on names unknown pipeline(s) %s; it will not run until they exist",
                           pipeline.file, ", ".join(missing))
