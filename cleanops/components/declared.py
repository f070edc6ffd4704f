"""A pipeline declared as a `cleanops.Pipeline` component (a defs.yaml) → its definitions.

The declaration gets the checks a pipeline file gets (source roots, staging names,
destinations); a problem fails loading with the file and field, as dg reports any component
error. `depends_on` names pipelines of the pipelines folder: their staging assets become
this pipeline's upstream assets. A pipeline declared in another defs.yaml is not visible
here (components are built independently), so naming one leaves the dependency sensor
waiting, with a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg

from cleanops.components import build, location
from cleanops.pipelines import rules
from cleanops.pipelines.loader import LoadedPipeline, LoadResult
from cleanops.pipelines.schema import PipelineSpec

logger = logging.getLogger("cleanops")


def build_declared(spec: PipelineSpec, file: Path) -> dg.Definitions:
    pipeline = LoadedPipeline(spec, Path(file).resolve())
    problems = rules.problems(spec, pipeline.base_dir)
    if problems:
        raise dg.DagsterInvalidDefinitionError(
            "\n".join(f"{pipeline.file}: attributes.{field}: {message}" for field, message in problems))
    folder = location.checked_build().result if spec.depends_on else LoadResult()
    upstreams = LoadResult(pipelines=[p for p in folder.pipelines if p.spec.pipeline_id in spec.depends_on])
    missing = sorted(set(spec.depends_on) - {p.spec.pipeline_id for p in upstreams.pipelines})
    if missing:
        logger.warning("%s: depends_on names pipeline(s) %s that the pipelines folder does not hold; "
                       "it will not run until they exist there", pipeline.file, ", ".join(missing))
    try:
        return build.build_one(pipeline, upstreams)
    except Exception as error:
        raise dg.DagsterInvalidDefinitionError(
            f"{pipeline.file}: the pipeline cannot be built: {type(error).__name__}: {error}") from error
