"""Which database a pipeline's staged data, quarantine and models live in, and the engines on it.

A destination's connection name resolves like a source's (CLEANOPS_CONN_<NAME>); when no
such variable is set it means the CleanOps warehouse, so the seed's `analytics-dw` works
out of the box.

`WarehouseResource` owns the engines: the code location binds one under the key "warehouse"
(`cleanops/defs/resources.py`) and assets, checks, sensors and ops take it as a parameter;
Dagster gives each run (or sensor tick) its own instance and disposes its engines when the run
ends. The CLI and other non-Dagster callers construct one and pass it to the same functions;
`default()` is the one a process shares when nothing passes one (migrations at `cleanops db
start`, `warehouse_engine()`).
"""

from __future__ import annotations

import threading

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr
from sqlalchemy.engine import make_url

from cleanops.db import connection
from cleanops.pipelines.schema import PipelineSpec
from cleanops.sources.sql import connection_url

RESOURCE_KEY = "warehouse"


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


class WarehouseResource(dg.ConfigurableResource):
    """Pooled engines on the CleanOps warehouse and on pipelines' own destinations.

    Engines are created on first use (loading the code location opens no connection) and kept
    per URL for the life of this instance; `teardown_after_execution` disposes them.
    """

    _engines: dict[str, sa.Engine] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def _engine(self, url: str, **pool) -> sa.Engine:
        with self._lock:
            engine = self._engines.get(url)
            if engine is None:
                engine = self._engines[url] = sa.create_engine(url, pool_pre_ping=True, **pool)
            return engine

    def engine(self) -> sa.Engine:
        """The CleanOps warehouse (the embedded server is started on first use)."""
        target = connection.ensure_database()
        return self._engine(connection.render(target.warehouse_url), pool_size=5, max_overflow=5)

    def engine_for(self, spec: PipelineSpec) -> sa.Engine:
        """Where this pipeline's staging, quarantine and models live."""
        url = destination_url(spec)
        return self._engine(url) if url else self.engine()

    def instance_engine(self) -> sa.Engine:
        """The Dagster instance database, through psycopg 3 like the warehouse (cleanup reads it)."""
        target = connection.ensure_database()
        return self._engine(connection.render(target.url(target.instance_database)), pool_size=2, max_overflow=2)

    def dispose(self) -> None:
        with self._lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.dispose()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.dispose()


_default: WarehouseResource | None = None
_default_lock = threading.Lock()


def default() -> WarehouseResource:
    """The process's shared resource, for callers outside a Dagster run that pass none."""
    global _default
    with _default_lock:
        if _default is None:
            _default = WarehouseResource()
        return _default


def warehouse_engine() -> sa.Engine:
    """The process's pooled engine on the warehouse, for callers outside Dagster (migrations at
    `cleanops db start`, the CLI, tests); the server is started on first use. Dagster code takes
    a `WarehouseResource` instead, and this is that class's shared instance."""
    return default().engine()


def location_resources() -> dict[str, WarehouseResource]:
    """The resources every CleanOps definition needs, as one shared object.

    The CleanOps location binds them (`defs/resources.py`) and so does each pipeline component,
    so a component also runs in a dg project of its own; Dagster merges the two bindings
    because they are the same object.
    """
    return {RESOURCE_KEY: default()}


def engine_for_pipeline(spec: PipelineSpec, warehouse: WarehouseResource | None = None) -> sa.Engine:
    return (warehouse if warehouse is not None else default()).engine_for(spec)
