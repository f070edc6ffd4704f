"""Pipeline files → Dagster definitions: assets per source and a job per pipeline."""

from __future__ import annotations

import dagster as dg

from cleanops.ingestion.assets import build_source_asset
from cleanops.pipelines.loader import LoadedPipeline, LoadResult


def pipeline_job_name(pipeline: LoadedPipeline) -> str:
    return pipeline.spec.slug


def build_pipeline_job(pipeline: LoadedPipeline) -> dg.UnresolvedAssetJobDefinition:
    spec = pipeline.spec
    return dg.define_asset_job(
        name=pipeline_job_name(pipeline),
        selection=dg.AssetSelection.groups(spec.slug),
        description=spec.description or spec.name,
        tags={"cleanops/pipeline": spec.pipeline_id},
    )


def build_pipeline_definitions(pipeline: LoadedPipeline) -> dg.Definitions:
    assets = [build_source_asset(pipeline, source) for source in pipeline.spec.data_sources]
    return dg.Definitions(assets=assets, jobs=[build_pipeline_job(pipeline)])


def build_all(result: LoadResult) -> dg.Definitions:
    return dg.Definitions.merge(*(build_pipeline_definitions(p) for p in result.pipelines)) \
        if result.pipelines else dg.Definitions()
