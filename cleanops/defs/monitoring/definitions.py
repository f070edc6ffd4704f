"""The monitoring area: the `cleanops_metrics` asset, its job and its (stopped) schedule."""

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    from cleanops.monitoring.definitions import build

    return build()
