"""Run a pipeline's dbt models (and their checks) without ingesting again.

Used after a quarantine replay: the replayed batch is already in staging, so only the
models downstream of it need to run; the destinations pick the batch up incrementally.
"""

from __future__ import annotations

import dagster as dg

from cleanops.db import connection
from cleanops.pipelines.loader import LoadedPipeline


def model_keys(graph, slug: str) -> list[dg.AssetKey]:
    """The pipeline group's assets that are not ingestion assets."""
    return [key for key in graph.get_all_asset_keys()
            if key.path[0] != "staging" and graph.get(key).group_name == slug]


def run_models(pipeline: LoadedPipeline, instance: dg.DagsterInstance | None = None):
    """Materialize the pipeline's dbt models in this process, recorded in the Dagster instance."""
    connection.apply_environment()
    from cleanops.definitions import build_definitions

    defs = build_definitions()
    keys = model_keys(defs.resolve_asset_graph(), pipeline.spec.slug)
    if not keys:
        return None
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance or dg.DagsterInstance.get(), asset_selection=keys,
                                  raise_on_error=False, tags={"cleanops/pipeline": pipeline.spec.pipeline_id,
                                                              "cleanops/trigger": "quarantine-replay"})
