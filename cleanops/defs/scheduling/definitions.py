"""Scheduling that belongs to no one pipeline: the sensor that fails runs whose worker died."""

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    from cleanops.scheduling.worker_monitor import dead_run_workers

    return dg.Definitions(sensors=[dead_run_workers])
