"""The CleanOps code location: the component tree under `cleanops/defs/`.

Dagster (workspace.yaml, `dagster`, `dg`) calls `defs`; nothing is built at import. Each
area is a folder of `cleanops/defs/`: `pipelines/` (a `cleanops.PipelineFiles` component
over the pipelines folder), `transform/` (the dbt models), `cleanup/` (the cleanup job).
A pipeline file with errors is logged and left out, so one bad file never takes the
location down.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from cleanops.components import location
from cleanops.pipelines.loader import LoadResult


def build_definitions(result: LoadResult | None = None) -> dg.Definitions:
    """The whole location; `result` stands in for the pipelines folder when a caller already loaded it."""
    with location.loading(result):
        return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
