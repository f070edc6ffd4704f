"""Resources the whole code location shares: `warehouse`, the engines on the CleanOps warehouse
and on pipelines' destinations (`cleanops.warehouse.WarehouseResource`)."""

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    from cleanops.warehouse import location_resources

    return dg.Definitions(resources=location_resources())
