"""Pipeline files → Dagster definitions: assets per source and a job per pipeline."""

from __future__ import annotations

import dagster as dg

from cleanops.ingestion.assets import build_source_asset, staging_asset_key
from cleanops.pipelines.loader import LoadedPipeline, LoadResult
from cleanops.scheduling import policy


def pipeline_job_name(pipeline: LoadedPipeline) -> str:
    return pipeline.spec.slug


def build_pipeline_job(pipeline: LoadedPipeline) -> dg.UnresolvedAssetJobDefinition:
    spec = pipeline.spec
    return dg.define_asset_job(
        name=pipeline_job_name(pipeline),
        selection=dg.AssetSelection.groups(spec.slug),
        description=spec.description or spec.name,
        tags=policy.run_tags(spec),  # priority, destination and concurrency tags for the run queue
        # One process per run instead of one per step: a pipeline's steps are I/O-bound, and
        # a step subprocess costs seconds of imports, which dominated event-to-finish latency.
        executor_def=dg.in_process_executor,
    )


def upstream_asset_keys(pipeline: LoadedPipeline, result: LoadResult | None) -> tuple[dg.AssetKey, ...]:
    """The ingestion assets of the pipelines named in `depends_on` (unknown ids are skipped)."""
    if result is None:
        return ()
    known = {p.spec.pipeline_id: p for p in result.pipelines}
    return tuple(staging_asset_key(known[upstream].spec.slug, source.id)
                 for upstream in pipeline.spec.depends_on if upstream in known
                 for source in known[upstream].spec.data_sources)


def build_pipeline_definitions(pipeline: LoadedPipeline, result: LoadResult | None = None) -> dg.Definitions:
    upstream = upstream_asset_keys(pipeline, result)
    assets = [build_source_asset(pipeline, source, upstream) for source in pipeline.spec.data_sources]
    return dg.Definitions(assets=assets, jobs=[build_pipeline_job(pipeline)])


def build_all(result: LoadResult) -> dg.Definitions:
    return dg.Definitions.merge(*(build_pipeline_definitions(p, result) for p in result.pipelines)) \
        if result.pipelines else dg.Definitions()
