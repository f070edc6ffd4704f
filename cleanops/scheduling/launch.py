"""Running a pipeline's job on the CleanOps Dagster instance, from the CLI or `make run`.

The run is created from the code location that workspace.yaml loads, exactly as the UI
and the daemon create theirs, so it carries the location's origin: the job's Runs tab,
the Jobs list, the timeline and Re-execute all treat it like any other run. It is
launched at once, outside the run queue, so it needs no daemon (`make dev`) and starts
when asked, as `dagster job execute` would; `cleanops trigger` is the queued way (priorities
and concurrency limits). The caller follows the run's events until it ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg

from cleanops.pipelines.loader import LoadedPipeline, load_pipelines
from cleanops.pipelines.naming import ingestion_run_config
from cleanops.scheduling import control, graphql

CLI_TAGS = {"cleanops/trigger": "cli"}
# A run launched at once starts its worker within seconds; one that has not after this long
# never will (the same bound as run monitoring's start_timeout_seconds in dagster.yaml).
START_TIMEOUT_SECONDS = 180


class UnknownPipeline(LookupError):
    """A pipeline id that no valid file in the pipelines folder declares."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class RunOutcome:
    run_id: str
    success: bool


def find_pipeline(pipeline_id: str) -> LoadedPipeline:
    result = load_pipelines()
    for pipeline in result.pipelines:
        if pipeline.spec.pipeline_id == pipeline_id:
            return pipeline
    known = ", ".join(sorted(p.spec.pipeline_id for p in result.pipelines)) or "none"
    raise UnknownPipeline(f"no pipeline named {pipeline_id!r}; known: {known}")


def full_refresh_config(pipeline: LoadedPipeline) -> dict:
    """`full_refresh` for the ingestion assets only: dbt models and checks take no such config."""
    return ingestion_run_config(pipeline.spec.slug,
                                {source.id: {"full_refresh": True} for source in pipeline.spec.data_sources})


@contextmanager
def started_run(pipeline_id: str, *, full_refresh: bool = False,
                instance: dg.DagsterInstance | None = None) -> Iterator[dg.DagsterRun]:
    """Create the pipeline's run in the code location and start it; yields the run.

    The run is launched through the code location's GraphQL API on an instance that starts
    runs at once (`graphql.launch_home`); the code server that started the run worker
    stays up until the run ends. Follow the run to its end inside the block.
    """
    pipeline = find_pipeline(pipeline_id)
    instance = instance or control.get_instance()
    run_config = full_refresh_config(pipeline) if full_refresh else None
    run_id = graphql.launch_run(pipeline.spec.slug, CLI_TAGS, run_config, graphql.launch_home())
    yield instance.get_run_by_id(run_id)


def stop_run(instance: dg.DagsterInstance, run_id: str) -> None:
    """Terminate a started run (the CLI's Ctrl-C): its worker would outlive the code server."""
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.run_launcher.terminate(run_id)


NOT_YET_STARTED = (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING)


class RunNeverStarted(dg.DagsterError):
    """A run launched at once whose worker did not start within the start timeout."""

    def __init__(self, run: dg.DagsterRun, waited_seconds: float):
        self.run = run
        super().__init__(f"run {run.run_id} is still {run.status.value} after {waited_seconds:.0f} s: "
                         "its worker never started")


def run_events(instance: dg.DagsterInstance, run_id: str, poll_seconds: float = 0.5,
               start_timeout_seconds: float | None = None, follow: bool = True) -> Iterator[dg.EventLogEntry]:
    """The run's events in order, as they are written, until the run has ended.

    With `follow=False`, the events stored so far, without waiting for the run to end.

    With `start_timeout_seconds`, a run that has not started by then raises RunNeverStarted
    instead of being followed for ever (a run in the queue has no such bound: pass None).
    """
    cursor = None
    following_since = time.monotonic()
    while True:
        run = instance.get_run_by_id(run_id)
        finished = run is None or run.is_finished  # read before the events, so none written at the end is missed
        waited = time.monotonic() - following_since
        if (start_timeout_seconds is not None and run is not None and run.status in NOT_YET_STARTED
                and waited > start_timeout_seconds):
            raise RunNeverStarted(run, waited)
        connection = instance.get_records_for_run(run_id, cursor=cursor, limit=1000)
        for record in connection.records:
            yield record.event_log_entry
        cursor = connection.cursor
        if connection.has_more:
            continue
        if finished or not follow:
            return
        time.sleep(poll_seconds)


def wait_for_end(instance: dg.DagsterInstance, run_id: str, poll_seconds: float = 0.5) -> dg.DagsterRun:
    """The run once it has ended; RunNeverStarted when its worker did not start in time."""
    for _ in run_events(instance, run_id, poll_seconds, start_timeout_seconds=START_TIMEOUT_SECONDS):
        pass
    return instance.get_run_by_id(run_id)


def run_pipeline(pipeline_id: str, *, full_refresh: bool = False,
                 instance: dg.DagsterInstance | None = None) -> RunOutcome:
    """Run the pipeline's job through the code location and wait for it to end."""
    instance = instance or control.get_instance()
    with started_run(pipeline_id, full_refresh=full_refresh, instance=instance) as run:
        finished = wait_for_end(instance, run.run_id)
    return RunOutcome(run.run_id, finished is not None and finished.status == dg.DagsterRunStatus.SUCCESS)
