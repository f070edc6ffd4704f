"""Great Expectations asset checks for every pipeline table that has quality rules."""

from __future__ import annotations

import dagster as dg

from cleanops.pipelines.loader import LoadResult
from cleanops.quality.checks import build_quality_check
from cleanops.quality.rules import check_targets


def build(result: LoadResult) -> dg.Definitions:
    checks = [build_quality_check(target) for pipeline in result.pipelines for target in check_targets(pipeline)]
    return dg.Definitions(asset_checks=checks)
