"""The CleanOps code location: every pipeline file plus the built-in jobs.

Loading does no I/O beyond reading the pipeline files and the dbt manifest; a file with
errors is logged and left out, so one bad file never takes the UI down. Each area
(transform, quality, scheduling, cleanup, monitoring) contributes its definitions through
a `build(result)` function in `cleanops/<area>/definitions.py`.
"""

from __future__ import annotations

import importlib
import logging

import dagster as dg

from cleanops.pipelines.factory import build_all
from cleanops.pipelines.loader import LoadResult, load_pipelines

logger = logging.getLogger("cleanops")

AREAS = ("transform", "quality", "scheduling", "cleanup", "monitoring")


def _area_definitions(result: LoadResult) -> list[dg.Definitions]:
    parts = []
    for area in AREAS:
        module_name = f"cleanops.{area}.definitions"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name and module_name.startswith(error.name):  # the area is not there
                continue
            raise
        parts.append(module.build(result))
    return parts


def build_definitions(result: LoadResult | None = None) -> dg.Definitions:
    result = result or load_pipelines()
    for error in result.errors:
        logger.warning("pipeline file skipped: %s", error)
    return dg.Definitions.merge(build_all(result), *_area_definitions(result))


defs = build_definitions()
