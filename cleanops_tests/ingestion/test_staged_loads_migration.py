"""Migration 0002: staging tables of earlier versions get load ids and lose nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from cleanops.db import migrate
from cleanops_tests.sources.test_sql_sources import _scratch_database

pytestmark = pytest.mark.server_matrix


def test_rows_staged_before_load_ids_keep_their_batch_source_and_origin(cleanops_database):
    admin = cleanops_database.server_url.set(database="postgres")
    with _scratch_database(admin, '"', isolation_level="AUTOCOMMIT") as url:
        engine = sa.create_engine(url.set(drivername="postgresql+psycopg"), poolclass=sa.pool.NullPool)
        try:
            earlier = [(v, text) for v, text in migrate.available_migrations() if v < "0002"]
            with engine.begin() as conn:
                conn.execute(sa.text("CREATE SCHEMA cleanops"))
                conn.execute(sa.text("CREATE TABLE cleanops.schema_migrations (version text PRIMARY KEY, "
                                     "applied_at timestamptz NOT NULL DEFAULT now())"))
                for version, text in earlier:
                    conn.exec_driver_sql(text)
                    conn.execute(sa.text("INSERT INTO cleanops.schema_migrations VALUES (:v)"), {"v": version})
                conn.execute(sa.text("""CREATE TABLE staging."p__users" (id bigint,
                    _cleanops_batch_id text NOT NULL, _cleanops_source text NOT NULL, _cleanops_origin text,
                    _cleanops_row_number bigint, _cleanops_loaded_at timestamptz NOT NULL DEFAULT now())"""))
                conn.execute(sa.text("""CREATE INDEX ON staging."p__users" USING brin (_cleanops_loaded_at)"""))
                conn.execute(sa.text("""INSERT INTO staging."p__users" VALUES
                    (1, 'run-a', 'users', 'a.csv', 1, '2026-01-01'), (2, 'run-a', 'users', 'a.csv', 2, '2026-01-01'),
                    (3, 'run-a', 'users', 'b.csv', 1, '2026-01-01'), (4, 'run-b', 'users', NULL, 1, '2026-02-01')"""))
            assert "0002_staged_loads" in migrate.migrate(engine)
            with engine.connect() as conn:
                rows = conn.execute(sa.text("""SELECT s.id, l.batch_id, l.source_id, l.origin, l.loaded_at::date AS day,
                    s._cleanops_row_number FROM staging."p__users" s
                    JOIN cleanops.staged_loads l ON l.load_id = s._cleanops_load_id ORDER BY s.id""")).all()
                columns = conn.scalars(sa.text("SELECT column_name FROM information_schema.columns "
                                               "WHERE table_schema = 'staging' AND table_name = 'p__users'")).all()
            assert [(r.id, r.batch_id, r.source_id, r.origin, str(r.day), r._cleanops_row_number) for r in rows] == [
                (1, "run-a", "users", "a.csv", "2026-01-01", 1), (2, "run-a", "users", "a.csv", "2026-01-01", 2),
                (3, "run-a", "users", "b.csv", "2026-01-01", 1), (4, "run-b", "users", None, "2026-02-01", 1)]
            assert sorted(columns) == ["_cleanops_load_id", "_cleanops_row_number", "id"]
        finally:
            engine.dispose()
