"""Running a pipeline's job on the CleanOps Dagster instance, from the CLI or `make run`."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from cleanops.db import connection


@dataclass
class RunOutcome:
    run_id: str
    success: bool


def run_pipeline(pipeline_id: str, *, full_refresh: bool = False,
                 instance: dg.DagsterInstance | None = None) -> RunOutcome:
    """Execute the pipeline's job in this process, recorded in the persistent instance."""
    connection.apply_environment()
    from cleanops.definitions import build_definitions
    from cleanops.pipelines.loader import load_pipelines

    pipeline = load_pipelines().by_id(pipeline_id)
    defs = build_definitions()
    job = defs.resolve_job_def(pipeline.spec.slug)
    run_config = {"ops": {}}
    if full_refresh:
        for node in job.graph.node_dict:
            run_config["ops"][node] = {"config": {"full_refresh": True}}
    instance = instance or dg.DagsterInstance.get()
    result = job.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False,
                                    tags={"cleanops/trigger": "cli"})
    return RunOutcome(result.run_id, result.success)
