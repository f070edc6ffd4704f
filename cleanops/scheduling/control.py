"""Acting on the Dagster instance the way the UI does: pause, resume, trigger, list.

Pause, resume and trigger go through the code location's GraphQL API (see
scheduling.graphql), the same mutations as the UI's buttons: the stored state of a
schedule or sensor is what the UI and the daemon read, so the two always agree, and a
triggered run carries the location's origin. Each loads the project's workspace.yaml in a
`dagster-graphql` process (the code location starts in a subprocess for a few seconds).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import dagster as dg

from cleanops import settings
from cleanops.db import connection
from cleanops.pipelines.loader import LoadedPipeline, load_pipelines
from cleanops.pipelines.naming import ingestion_run_config
from cleanops.scheduling import cron, definitions, graphql, overdue, policy


def workspace_file() -> str:
    return str(settings.PROJECT_ROOT / "workspace.yaml")


def get_instance() -> dg.DagsterInstance:
    connection.apply_environment()
    return dg.DagsterInstance.get()


def instigator_prefix(pipeline: LoadedPipeline) -> str:
    """Schedules and sensors of a pipeline are named `<slug>__...` (see scheduling.definitions)."""
    return f"{pipeline.spec.slug}__"


@dataclass
class StateChange:
    kind: str  # schedule | sensor
    name: str
    status: str


def set_running(pipeline_id: str, running: bool, instance: dg.DagsterInstance | None = None) -> list[StateChange]:
    """Start (resume) or stop (pause) every schedule and sensor of a pipeline."""
    if instance is None:
        get_instance()
    pipeline = load_pipelines().by_id(pipeline_id)
    prefix = instigator_prefix(pipeline)
    targets = [(kind, name, instigator_id) for kind, declared in graphql.instigators().items()
               for name, instigator_id in declared.items() if name.startswith(prefix)]
    graphql.set_running(targets, running)
    return [StateChange(kind, name, "running" if running else "stopped") for kind, name, _ in targets]


def run_tags_for(priority: str | None = None) -> dict[str, str]:
    tags = {policy.TRIGGER_TAG: "external"}
    if priority:
        tags.update({"cleanops/priority": priority, "dagster/priority": str(policy.PRIORITY_VALUES[priority])})
    return tags


def file_run_config(pipeline: LoadedPipeline, file: str) -> dict:
    """Run config that makes a file pipeline load exactly `file` (as its sensor does)."""
    from cleanops.scheduling.landing import file_arrival_triggers, landing_folder

    triggers = file_arrival_triggers(pipeline)
    source_id = landing_folder(pipeline, triggers[0]).source.id if triggers else pipeline.spec.data_sources[0].id
    return ingestion_run_config(pipeline.spec.slug, {source_id: {"files": [file]}})


def submit_runs(instance: dg.DagsterInstance, requests: list[tuple[LoadedPipeline, dict[str, str] | None]],
                dagster_home=None) -> list[dg.DagsterRun]:
    """Submit runs of pipelines' jobs (job tags + the given tags) in one request, in order."""
    run_ids = graphql.launch_runs([(pipeline.spec.slug, tags or {}, None) for pipeline, tags in requests],
                                  dagster_home)
    return [instance.get_run_by_id(run_id) for run_id in run_ids]


def trigger_run(pipeline_id: str, *, priority: str | None = None, file: str | None = None,
                instance: dg.DagsterInstance | None = None) -> dg.DagsterRun:
    """Queue a run of the pipeline's job now (the daemon starts it, by priority, like a scheduled run)."""
    instance = instance or get_instance()
    pipeline = load_pipelines().by_id(pipeline_id)
    run_config = file_run_config(pipeline, file) if file else None
    run_id = graphql.launch_run(pipeline.spec.slug, run_tags_for(priority), run_config)
    return instance.get_run_by_id(run_id)


# --- reading schedules without loading the workspace ----------------------------------

@dataclass
class ScheduleRow:
    pipeline_id: str
    kind: str  # cron | cron+depends_on | event | depends_on | manual
    detail: str
    timezone: str
    priority: str
    instigators: dict[str, str]  # name → running | stopped
    last_success: str | None = None
    overdue: bool = False


def stored_statuses(instance: dg.DagsterInstance) -> dict[str, object]:
    """Instigator name → status the UI set (or the CLI). Names absent here use their default."""
    return {state.instigator_name: state.status for state in instance.all_instigator_state()
            if state.instigator_type.value in ("SCHEDULE", "SENSOR")}


def instigator_names(pipeline: LoadedPipeline) -> list[str]:
    schedules, sensors = definitions.build_pipeline_scheduling(pipeline)
    return [s.name for s in schedules] + [s.name for s in sensors]


def _status_text(name: str, pipeline: LoadedPipeline, stored: dict[str, object]) -> str:
    status = getattr(stored.get(name), "value", None)
    if status in ("RUNNING", "DECLARED_IN_CODE"):
        return "running"
    if status == "STOPPED":
        return "stopped"
    return "running" if policy.is_active(pipeline.spec) else "stopped"


def describe(pipeline: LoadedPipeline) -> tuple[str, str]:
    spec, schedule = pipeline.spec, pipeline.spec.schedule
    if schedule.type == "cron":
        kind = "cron+depends_on" if spec.depends_on else "cron"
        return kind, schedule.expression or ""
    if schedule.type == "event":
        return "event", ", ".join(t.type for t in schedule.triggers)
    return ("depends_on", ", ".join(spec.depends_on)) if spec.depends_on else ("manual", "")


def schedule_rows(instance: dg.DagsterInstance) -> list[ScheduleRow]:
    stored = stored_statuses(instance)
    rows = []
    for pipeline in load_pipelines().pipelines:
        kind, detail = describe(pipeline)
        state = overdue.freshness(instance, pipeline)
        rows.append(ScheduleRow(pipeline.spec.pipeline_id, kind, detail, pipeline.spec.schedule.timezone,
                                pipeline.spec.priority,
                                {name: _status_text(name, pipeline, stored) for name in instigator_names(pipeline)},
                                state.last_success.isoformat() if state.last_success else None, state.overdue))
    return rows


def next_runs(pipeline: LoadedPipeline, count: int, after: float | None = None) -> list[dt.datetime]:
    """The next `count` cron ticks in the pipeline's time zone, as Dagster's scheduler computes them."""
    schedule = pipeline.spec.schedule
    if schedule.type != "cron" or not schedule.expression:
        raise ValueError(f"pipeline {pipeline.spec.pipeline_id!r} has no cron schedule ({schedule.type})")
    ticks = cron.ticks(after or time.time(), schedule.expression, schedule.timezone)
    zone = ZoneInfo(schedule.timezone)
    return [next(ticks).astimezone(zone) for _ in range(count)]
