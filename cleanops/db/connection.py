"""One answer to "which PostgreSQL, which databases?" for every part of CleanOps.

The warehouse and the Dagster instance live on one server: the embedded one by default,
or the user's own when CLEANOPS_DATABASE_URL is set. URLs are given with explicit
drivers, because under SQLAlchemy 2.1 a bare `postgresql://` means psycopg 3 while
dagster-postgres is tested with psycopg2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from cleanops import settings
from cleanops.db import embedded

WAREHOUSE_DRIVER = "postgresql+psycopg"
INSTANCE_DRIVER = "postgresql+psycopg2"


@dataclass(frozen=True)
class DatabaseTarget:
    """The server and the two databases CleanOps uses on it."""

    server_url: URL  # any database on the server, used to create the others
    warehouse_database: str
    instance_database: str
    embedded: bool

    def url(self, database: str, driver: str = WAREHOUSE_DRIVER) -> URL:
        return self.server_url.set(drivername=driver, database=database)

    @property
    def warehouse_url(self) -> URL:
        return self.url(self.warehouse_database)

    @property
    def instance_url(self) -> URL:
        return self.url(self.instance_database, INSTANCE_DRIVER)

    def libpq_params(self) -> dict[str, object]:
        """host/port/user/password/dbname for tools that take them apart (dbt, psql)."""
        url = self.server_url
        host = url.host or url.query.get("host") or "localhost"
        return {
            "host": host,
            "port": url.port or 5432,
            "user": url.username or "postgres",
            "password": url.password or "",
            "dbname": self.warehouse_database,
        }


def render(url: URL) -> str:
    """A URL as a string with its password kept (for subprocess environments only)."""
    return url.render_as_string(hide_password=False)


def _external_target(raw_url: str) -> DatabaseTarget:
    url = make_url(raw_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername=WAREHOUSE_DRIVER)
    warehouse = url.database or "postgres"
    instance_override = settings.instance_database_url()
    instance = make_url(instance_override).database if instance_override else f"{warehouse}_dagster"
    return DatabaseTarget(url, warehouse, instance, embedded=False)


def _embedded_target(layout: embedded.EmbeddedLayout) -> DatabaseTarget:
    url = URL.create(
        WAREHOUSE_DRIVER,
        username="postgres",
        database="postgres",
        query={"host": str(layout.socket_dir), "port": str(layout.port)},
    )
    return DatabaseTarget(url, settings.WAREHOUSE_DATABASE, settings.INSTANCE_DATABASE, embedded=True)


def configured_target() -> DatabaseTarget:
    """The target the settings describe, without starting or creating anything."""
    external = settings.external_database_url()
    if external:
        return _external_target(external)
    return _embedded_target(embedded.plan_layout(settings.home()))


def ensure_database(start_embedded: bool = True) -> DatabaseTarget:
    """Make the configured server and both databases ready, and return the target."""
    target = configured_target()
    if target.embedded and start_embedded:
        embedded.start(embedded.plan_layout(settings.home()))
    _create_missing_databases(target)
    return target


def _create_missing_databases(target: DatabaseTarget) -> None:
    """Create the warehouse and instance databases, connected to the `postgres` database
    (the one a URL names may not exist yet)."""
    admin_url = target.server_url.set(database="postgres")
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            existing = set(conn.scalars(sa.text("SELECT datname FROM pg_database")))
            for name in (target.warehouse_database, target.instance_database):
                if name not in existing:
                    quoted = conn.dialect.identifier_preparer.quote(name)
                    try:
                        conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
                    except sa.exc.ProgrammingError as error:  # created by a concurrent process
                        if "already exists" not in str(error):
                            raise
    finally:
        engine.dispose()


def export_environment(target: DatabaseTarget) -> dict[str, str]:
    """Variables that dagster.yaml, dbt's profile and subprocesses read."""
    paths = settings.paths()
    libpq = target.libpq_params()
    return {
        "DAGSTER_HOME": str(settings.PROJECT_ROOT),
        "CLEANOPS_HOME": str(paths.home),
        "CLEANOPS_INSTANCE_URL": render(target.instance_url),
        "CLEANOPS_WAREHOUSE_URL": render(target.warehouse_url),
        "CLEANOPS_DAGSTER_STORAGE": str(paths.dagster_storage),
        "CLEANOPS_COMPUTE_LOGS": str(paths.compute_logs),
        "CLEANOPS_PG_HOST": str(libpq["host"]),
        "CLEANOPS_PG_PORT": str(libpq["port"]),
        "CLEANOPS_PG_USER": str(libpq["user"]),
        "CLEANOPS_PG_PASSWORD": str(libpq["password"]),
        "CLEANOPS_PG_DATABASE": str(libpq["dbname"]),
    }


def apply_environment(target: DatabaseTarget | None = None) -> DatabaseTarget:
    """Start what is needed and set the variables in this process (and its children)."""
    target = target or ensure_database()
    os.environ.update(export_environment(target))
    for folder in (settings.paths().dagster_storage, settings.paths().compute_logs):
        folder.mkdir(parents=True, exist_ok=True)
    return target
