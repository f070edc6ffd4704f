"""One pipeline → its Dagster definitions: ingestion assets per source, GE checks, the job, the
schedule and the sensors. The `Pipeline` and `PipelineFiles` components call this module;
`cleanops pipelines validate` calls `build_checked`, so what validates is what loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from cleanops.ingestion.assets import build_source_asset, staging_asset_key
from cleanops.pipelines.loader import LoadedPipeline, LoadResult, PipelineError
from cleanops.quality.checks import build_quality_check
from cleanops.quality.rules import check_targets
from cleanops.scheduling import policy
from cleanops.scheduling.definitions import build_pipeline_scheduling
from cleanops.transform import models


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
    """The ingestion assets of the pipelines named in `depends_on` that `result` holds (others are skipped)."""
    if result is None:
        return ()
    known = {p.spec.pipeline_id: p for p in result.pipelines}
    return tuple(staging_asset_key(known[upstream].spec.slug, source.id)
                 for upstream in pipeline.spec.depends_on if upstream in known
                 for source in known[upstream].spec.data_sources)


def build_pipeline_definitions(pipeline: LoadedPipeline, result: LoadResult | None = None) -> dg.Definitions:
    """Everything one pipeline defines except its dbt models (one project-wide @dbt_assets holds those)."""
    upstream = upstream_asset_keys(pipeline, result)
    assets = [build_source_asset(pipeline, source, upstream) for source in pipeline.spec.data_sources]
    checks = [build_quality_check(target) for target in check_targets(pipeline)]
    schedules, sensors = build_pipeline_scheduling(pipeline)
    return dg.Definitions(assets=assets, asset_checks=checks, jobs=[build_pipeline_job(pipeline)],
                          schedules=schedules, sensors=sensors)


@dataclass
class CheckedBuild:
    """The pipelines that build, their definitions, and an error per pipeline that does not."""

    result: LoadResult
    definitions: dg.Definitions


def build_checked(result: LoadResult) -> CheckedBuild:
    """Build every pipeline inside its own error boundary.

    A pipeline whose definitions raise, or whose asset keys or dbt model names another
    pipeline already owns, becomes an error on its file and is left out, like a schema
    error: one bad file never takes the code location down. `cleanops pipelines validate`
    runs the same function, so what validates builds.
    """
    kept = LoadResult(errors=list(result.errors))
    built: list[dg.Definitions] = []
    owners: dict[str, Path] = {}
    for pipeline in result.pipelines:
        try:
            definitions, names = _try_build(pipeline, result)
        except Exception as error:  # noqa: BLE001 - any failure of one pipeline's build is reported on its file
            kept.errors.append(PipelineError(pipeline.file, "", f"the pipeline cannot be built: "
                                                                f"{type(error).__name__}: {error}"))
            continue
        taken = sorted(name for name in names if name in owners)
        if taken:
            kept.errors.append(PipelineError(pipeline.file, "pipeline_id", f"{taken[0]} is already built by the "
                                             f"pipeline in {owners[taken[0]]}: choose another pipeline_id"))
            continue
        owners.update(dict.fromkeys(names, pipeline.file))
        kept.pipelines.append(pipeline)
        built.append(definitions)
    return CheckedBuild(kept, dg.Definitions.merge(*built) if built else dg.Definitions())


def build_one(pipeline: LoadedPipeline, result: LoadResult | None = None) -> dg.Definitions:
    """One pipeline's definitions, with the checks `build_checked` applies (raises on the first problem)."""
    definitions, _ = _try_build(pipeline, result)
    return definitions


def _try_build(pipeline: LoadedPipeline, result: LoadResult | None) -> tuple[dg.Definitions, set[str]]:
    """The pipeline's own definitions, and the names it claims: asset keys and dbt model names."""
    definitions = build_pipeline_definitions(pipeline, result)
    names = {f"asset {key.to_user_string()}" for asset in definitions.assets or [] for key in asset.keys}
    generated = models.generate_pipeline(pipeline)
    model_names = [model.name for model in generated.models]
    if len(set(model_names)) != len(model_names):
        raise ValueError(f"two of its dbt models would share a name ({', '.join(sorted(model_names))}): "
                         "rename the destination table")
    names |= {f"dbt model {name}" for name in model_names}
    return definitions, names


def build_all(result: LoadResult) -> dg.Definitions:
    """Every pipeline that builds, runnable on its own: with the `warehouse` resource the code
    location binds in `defs/resources.py` (the location itself merges `build_checked`)."""
    from cleanops.warehouse import location_resources

    return dg.Definitions.merge(build_checked(result).definitions, dg.Definitions(resources=location_resources()))
