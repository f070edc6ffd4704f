"""SQL sources: PostgreSQL, MySQL/MariaDB and SQLite, streamed in chunks.

The connection name in the pipeline file is resolved from the environment variable
CLEANOPS_CONN_<NAME> (upper case, `-` as `_`), so no secret sits in a pipeline file. The
query's `?` placeholders bind `parameters` in order, whatever the driver's own paramstyle;
`${last_run_timestamp}` binds the high-water mark of the last successful load.

Failures that a retry cannot fix (no such variable, a malformed URL, a wrong password, a
missing database or table, a bad query) raise `SourceError`; the others (a refused or
dropped connection, a timeout, a server shutting down) `TransientSourceError`, so that the
pipeline's `retry_policy` acts only on those. Messages name the server, never the password.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from cleanops import secrets, settings
from cleanops.pipelines.placeholders import bind_placeholders
from cleanops.sources.base import ReadContext, SourceChunk, SourceError, normalise_column_names, records_to_batch
from cleanops.sources.errors import TransientSourceError, is_transient_database_error

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg", "mysql": "mysql+pymysql",
           "mariadb": "mysql+pymysql", "sqlite": "sqlite"}


def connection_variable(name: str) -> str:
    return settings.connection_variable(name)


def parse_url(raw: str, what: str) -> sa.URL:
    """A SQLAlchemy URL, or an error naming `what` holds it (never the URL: it may hold a password)."""
    try:
        url = make_url(raw)
    except ValueError:
        raise SourceError(f"{what}: the URL's port is not a number") from None
    except sa.exc.ArgumentError:
        raise SourceError(f"{what}: not a database URL (expected driver://user:password@host:port/database)") from None
    return url


def connection_url(name: str) -> str | None:
    """The SQLAlchemy URL a connection name stands for, or None when it is not set."""
    raw = settings.connection_variable_value(name)
    if not raw:
        return None
    secrets.remember(secrets.url_password(raw))
    url = parse_url(raw, f"connection {name!r} ({connection_variable(name)})")
    backend = url.drivername.split("+")[0]
    if "+" not in url.drivername and backend in DRIVERS:
        url = url.set(drivername=DRIVERS[backend])
    return url.render_as_string(hide_password=False)


def resolve_parameter(value: Any, context: ReadContext) -> Any:
    if value == "${last_run_timestamp}":
        return context.watermark or EPOCH
    if value == "${now}":
        return dt.datetime.now(dt.timezone.utc)
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        raise SourceError(f"unknown parameter {value}: use ${{last_run_timestamp}} or ${{now}}")
    return value


def _engine_for(source) -> sa.Engine:
    url = connection_url(source.connection)
    if url is None:
        raise SourceError(
            f"source {source.id!r}: connection {source.connection!r} is not configured: "
            f"set {connection_variable(source.connection)} to a SQLAlchemy URL"
        )
    backend = make_url(url).get_backend_name()
    expected = "mysql" if source.type == "mysql" else source.type
    if backend != expected:
        raise SourceError(f"source {source.id!r}: type is {source.type!r} but {connection_variable(source.connection)} "
                          f"points at a {backend} database")
    connect_args = {"connect_timeout": 10} if backend in ("postgresql", "mysql") else {}
    try:
        return sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=connect_args)
    except (sa.exc.NoSuchModuleError, ImportError) as error:
        raise SourceError(f"source {source.id!r}: no driver for {connection_variable(source.connection)}: "
                          f"{error}") from None


def read_query(source, context: ReadContext) -> Iterator[SourceChunk]:
    """Run the source's query and yield its rows in chunks of `chunk_size`."""
    engine = _engine_for(source)
    origin = f"{source.type}:{source.connection}"
    params = {f"p{i}": resolve_parameter(v, context) for i, v in enumerate(source.parameters)}
    statement = sa.text(bind_placeholders(source.query))
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=source.chunk_size).execute(statement, params)
            columns = normalise_column_names(result.keys(), origin)
            next_row = 1
            while rows := result.fetchmany(source.chunk_size):
                yield SourceChunk(records_to_batch(columns, rows), origin, next_row)
                next_row += len(rows)
            if next_row == 1:
                yield SourceChunk(records_to_batch(columns, []), origin, 1)
    except sa.exc.DBAPIError as error:
        raise _query_error(source, error) from error
    finally:
        engine.dispose()


def _query_error(source, error: sa.exc.DBAPIError) -> SourceError:
    """The failure in the source's words, transient or not (see `is_transient_database_error`)."""
    error_class = TransientSourceError if is_transient_database_error(error) else SourceError
    if isinstance(error, sa.exc.OperationalError):
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        where = make_url(connection_url(source.connection)).render_as_string(hide_password=True)
        return error_class(f"source {source.id!r}: cannot query {where}: {reason}")
    return error_class(f"source {source.id!r}: query failed: {str(error.orig).strip()}")
