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

CLI_TAGS = {"cleanops/trigger": "cli"}


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
    from cleanops.scheduling import control, graphql

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


def wait_for_end(instance: dg.DagsterInstance, run_id: str, poll_seconds: float = 0.5) -> dg.DagsterRun:
    while True:
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return run
        time.sleep(poll_seconds)


def run_pipeline(pipeline_id: str, *, full_refresh: bool = False,
                 instance: dg.DagsterInstance | None = None) -> RunOutcome:
    """Run the pipeline's job through the code location and wait for it to end."""
    from cleanops.scheduling import control

    instance = instance or control.get_instance()
    with started_run(pipeline_id, full_refresh=full_refresh, instance=instance) as run:
        finished = wait_for_end(instance, run.run_id)
    return RunOutcome(run.run_id, finished is not None and finished.status == dg.DagsterRunStatus.SUCCESS)
