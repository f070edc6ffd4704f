"""The dbt models of every pipeline: one @dbt_assets over the prepared manifest (one dbt project)."""

import dagster as dg

from cleanops.components import location


@dg.definitions
def defs() -> dg.Definitions:
    from cleanops.transform.definitions import build

    return build(location.checked_build().result)
