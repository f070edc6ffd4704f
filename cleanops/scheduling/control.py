"""Acting on the Dagster instance the way the UI does: pause, resume, trigger, list.

Pause and resume change the stored state of the pipeline's schedule and sensors, which is
what the UI and the daemon read, so the two always agree. They need the code location's
remote origin, which only a loaded workspace has: like `dagster schedule start`, we load
the project's workspace.yaml (the code location starts in a subprocess for a few seconds).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import InstigatorStatus

from cleanops import settings
from cleanops.db import connection
from cleanops.pipelines.loader import LoadedPipeline, load_pipelines
from cleanops.scheduling import cron, definitions, overdue, policy


def workspace_file() -> str:
    return str(settings.PROJECT_ROOT / "workspace.yaml")


def get_instance() -> dg.DagsterInstance:
    connection.apply_environment()
    return dg.DagsterInstance.get()


@dataclass
class Workspace:
    """A loaded workspace: its request context, the CleanOps code location and repository."""

    context: object
    location: object
    repo: object


@contextmanager
def open_workspace(instance: dg.DagsterInstance) -> Iterator[Workspace]:
    """The CleanOps code location as the daemon and UI see it (loaded from workspace.yaml)."""
    from dagster import __version__
    from dagster._cli.workspace.cli_target import (
        get_code_location_from_workspace,
        get_remote_repository_from_code_location,
        get_workspace_from_cli_opts,
    )

    with get_workspace_from_cli_opts(instance, __version__, workspace_opts(), log_level="WARNING") as context:
        location = get_code_location_from_workspace(context, None)
        yield Workspace(context, location, get_remote_repository_from_code_location(location, None))


def workspace_opts():
    from dagster_shared.cli import WorkspaceOpts

    return WorkspaceOpts(workspace=[workspace_file()])


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
    instance = instance or get_instance()
    pipeline = load_pipelines().by_id(pipeline_id)
    prefix = instigator_prefix(pipeline)
    changes = []
    with open_workspace(instance) as workspace:
        repo = workspace.repo
        kinds = (("schedule", repo.get_schedules(), instance.start_schedule, instance.stop_schedule),
                 ("sensor", repo.get_sensors(), instance.start_sensor, instance.stop_sensor))
        for kind, instigators, start, stop in kinds:
            for instigator in instigators:
                if not instigator.name.startswith(prefix):
                    continue
                if running:
                    start(instigator)
                else:
                    stop(instigator.get_remote_origin_id(), instigator.selector_id, instigator)
                changes.append(StateChange(kind, instigator.name, "running" if running else "stopped"))
    return changes


def run_tags_for(priority: str | None = None) -> dict[str, str]:
    tags = {policy.TRIGGER_TAG: "external"}
    if priority:
        tags.update({"cleanops/priority": priority, "dagster/priority": str(policy.PRIORITY_VALUES[priority])})
    return tags


def file_run_config(pipeline: LoadedPipeline, file: str) -> dict:
    """Run config that makes a file pipeline load exactly `file` (as its sensor does)."""
    from cleanops.ingestion.assets import staging_asset_key
    from cleanops.scheduling.landing import file_arrival_triggers, landing_folder

    triggers = file_arrival_triggers(pipeline)
    source_id = landing_folder(pipeline, triggers[0]).source.id if triggers else pipeline.spec.data_sources[0].id
    op_name = staging_asset_key(pipeline.spec.slug, source_id).to_python_identifier()
    return {"ops": {op_name: {"config": {"files": [file]}}}}


def create_run(instance: dg.DagsterInstance, workspace: Workspace, pipeline: LoadedPipeline,
               tags: dict[str, str] | None = None, run_config: dict | None = None) -> dg.DagsterRun:
    """A not-yet-started run of the pipeline's job (job tags + `tags`), with the code location's origin."""
    from dagster._cli.job import _create_run

    remote_job = workspace.repo.get_full_job(pipeline.spec.slug)
    return _create_run(instance=instance, code_location=workspace.location, remote_repo=workspace.repo,
                       remote_job=remote_job, run_config=run_config or {}, tags=tags or {}, op_selection=None,
                       run_id=None)


def submit_run(instance: dg.DagsterInstance, workspace: Workspace, pipeline: LoadedPipeline,
               tags: dict[str, str] | None = None, run_config: dict | None = None) -> dg.DagsterRun:
    """Create a run of the pipeline's job (job tags + `tags`) and put it in the run queue."""
    run = create_run(instance, workspace, pipeline, tags, run_config)
    return instance.submit_run(run.run_id, workspace.context)


def trigger_run(pipeline_id: str, *, priority: str | None = None, file: str | None = None,
                instance: dg.DagsterInstance | None = None) -> dg.DagsterRun:
    """Queue a run of the pipeline's job now (the daemon starts it, by priority, like a scheduled run)."""
    instance = instance or get_instance()
    pipeline = load_pipelines().by_id(pipeline_id)
    run_config = file_run_config(pipeline, file) if file else None
    with open_workspace(instance) as workspace:
        return submit_run(instance, workspace, pipeline, run_tags_for(priority), run_config)


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


def stored_statuses(instance: dg.DagsterInstance) -> dict[str, InstigatorStatus]:
    """Instigator name → status the UI set (or the CLI). Names absent here use their default."""
    return {state.instigator_name: state.status for state in instance.all_instigator_state()
            if state.instigator_type in (InstigatorType.SCHEDULE, InstigatorType.SENSOR)}


def instigator_names(pipeline: LoadedPipeline) -> list[str]:
    schedules, sensors = definitions.build_pipeline_scheduling(pipeline)
    return [s.name for s in schedules] + [s.name for s in sensors]


def _status_text(name: str, pipeline: LoadedPipeline, stored: dict[str, InstigatorStatus]) -> str:
    status = stored.get(name)
    if status == InstigatorStatus.RUNNING or status == InstigatorStatus.DECLARED_IN_CODE:
        return "running"
    if status == InstigatorStatus.STOPPED:
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
