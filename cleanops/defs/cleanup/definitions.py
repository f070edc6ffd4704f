"""The cleanup job, its daily schedule and the emergency disk sensor."""

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    from cleanops.cleanup.definitions import build

    return build()
