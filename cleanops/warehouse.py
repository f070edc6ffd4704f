"""Which database a pipeline's staged data, quarantine and models live in.

A destination's connection name resolves like a source's (CLEANOPS_CONN_<NAME>); when no
such variable is set it means the CleanOps warehouse, so the seed's `analytics-dw` works
out of the box.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from cleanops.db import connection
from cleanops.pipelines.schema import PipelineSpec
from cleanops.sources.sql import connection_url


def destination_url(spec: PipelineSpec) -> str | None:
    """The user's own warehouse for this pipeline, or None for the CleanOps warehouse."""
    for destination in spec.destinations:
        url = connection_url(destination.connection)
        if url:
            if make_url(url).get_backend_name() != "postgresql":
                raise ValueError(
                    f"pipeline {spec.pipeline_id!r}: destination {destination.connection!r} must be PostgreSQL"
                )
            return url
    return None


@functools.cache
def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, pool_pre_ping=True)


def engine_for_pipeline(spec: PipelineSpec) -> sa.Engine:
    url = destination_url(spec)
    return _engine(url) if url else connection.warehouse_engine()
