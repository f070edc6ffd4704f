"""The CleanOps code location: every pipeline file plus the built-in jobs.

Loading does no I/O beyond reading the pipeline files; a file with errors is logged and
left out, so one bad file never takes the UI down.
"""

from __future__ import annotations

import logging

import dagster as dg

from cleanops.pipelines.factory import build_all
from cleanops.pipelines.loader import load_pipelines

logger = logging.getLogger("cleanops")


def build_definitions() -> dg.Definitions:
    result = load_pipelines()
    for error in result.errors:
        logger.warning("pipeline file skipped: %s", error)
    return build_all(result)


defs = build_definitions()
