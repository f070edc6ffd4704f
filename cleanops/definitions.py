"""The CleanOps code location: every pipeline file plus the built-in jobs.

Loading does no I/O beyond reading the pipeline files and the dbt manifest; a file with
errors is logged and left out, so one bad file never takes the UI down. Each area
(transform, quality, scheduling, cleanup, monitoring) contributes its definitions through
a `build(result)` function in `cleanops/<area>/definitions.py`.
"""

from __future__ import annotations

import logging

import dagster as dg

from cleanops.optional import import_if_present
from cleanops.pipelines.factory import build_checked
from cleanops.pipelines.loader import LoadResult, load_pipelines

logger = logging.getLogger("cleanops")

AREAS = ("transform", "quality", "scheduling", "cleanup", "monitoring")


def _area_definitions(result: LoadResult) -> list[dg.Definitions]:
    modules = (import_if_present(f"cleanops.{area}.definitions") for area in AREAS)
    return [module.build(result) for module in modules if module is not None]


def build_definitions(result: LoadResult | None = None) -> dg.Definitions:
    built = build_checked(result or load_pipelines())
    for error in built.result.errors:
        logger.warning("pipeline file skipped: %s", error)
    return dg.Definitions.merge(built.definitions, *_area_definitions(built.result))


defs = build_definitions()
