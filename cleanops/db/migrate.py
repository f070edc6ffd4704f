"""Versioned migrations for the `cleanops` schema.

Each file in `migrations/` is named `NNNN_description.sql` and applied once, in order,
inside one transaction, recorded in `cleanops.schema_migrations`. A PostgreSQL advisory
lock keeps two processes (the CLI and a Dagster run, say) from applying them together.
Number ranges by area keep parallel work from colliding: 0001-0099 core and ingestion,
0100 quality, 0200 scheduling, 0300 cleanup, 0400 monitoring.
"""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa

MIGRATION_LOCK_ID = 0x0C1EA0
_applied_for: set[str] = set()


def available_migrations() -> list[tuple[str, str]]:
    """(version, sql) pairs from the package, sorted by version."""
    folder = resources.files("cleanops.db") / "migrations"
    files = sorted(f for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in files]


def migrate(engine: sa.Engine) -> list[str]:
    """Apply pending migrations; returns the versions applied now."""
    key = engine.url.render_as_string(hide_password=True)
    if key in _applied_for:
        return []
    applied_now = []
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS cleanops"))
        conn.execute(sa.text(
            "CREATE TABLE IF NOT EXISTS cleanops.schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        ))
        done = set(conn.scalars(sa.text("SELECT version FROM cleanops.schema_migrations")))
        for version, sql in available_migrations():
            if version in done:
                continue
            conn.exec_driver_sql(sql)
            conn.execute(sa.text("INSERT INTO cleanops.schema_migrations (version) VALUES (:v)"), {"v": version})
            applied_now.append(version)
    _applied_for.add(key)
    return applied_now


def forget_applied_cache() -> None:
    """For tests that drop and recreate a database within one process."""
    _applied_for.clear()
