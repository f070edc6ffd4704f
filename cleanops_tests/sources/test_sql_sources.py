"""SQL sources: `?` parameters, the incremental watermark, other engines, clear errors."""

import contextlib
import datetime as dt
import os
import uuid

import pytest
import sqlalchemy as sa

from cleanops.pipelines.placeholders import bind_placeholders, count_placeholders
from cleanops_tests.conftest import unique_id
from cleanops_tests.ingestion.helpers import codes, count, materialize_pipeline, table_names


def test_placeholders_outside_literals_and_comments_only():
    query = "SELECT '?' AS q, \"a?\" FROM t -- why?\nWHERE a > ? AND b::text = ? /* ? */"
    assert count_placeholders(query) == 2
    bound = bind_placeholders(query)
    assert ":p0" in bound and ":p1" in bound and "'?'" in bound and "\\:\\:text" in bound


def _users_spec(connection: str, kind: str, query: str, parameters=()):
    return {
        "pipeline_id": unique_id("sql"),
        "data_sources": [{"id": "users", "type": kind, "connection": connection, "query": query,
                          "parameters": list(parameters)}],
        "transformations": [{"type": "validation", "config": {
            "required_fields": ["user_id", "email"],
            "data_types": {"user_id": "integer", "email": "email", "created_at": "datetime"}}}],
    }


def _fill_users(engine: sa.Engine, rows):
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS users"))
        conn.execute(sa.text("CREATE TABLE users (user_id varchar(20), email varchar(200), created_at varchar(40),"
                             " updated_at timestamp NOT NULL)"))
        conn.execute(sa.text("INSERT INTO users VALUES (:u, :e, :c, :t)"), rows)


def _rows(start: int, n: int, updated: dt.datetime):
    rows = []
    for i in range(start, start + n):
        rows.append({"u": str(i), "e": f"u{i}@example.com", "c": "2024-01-01 10:00:00", "t": updated})
    rows[0]["e"] = "broken"
    rows[1]["u"] = None
    return rows


def _incremental_load_roundtrip(source_url: str, kind: str, make_pipeline, warehouse, monkeypatch, source_engine):
    connection = f"src-{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("CLEANOPS_CONN_" + connection.upper().replace("-", "_"), source_url)
    past = dt.datetime.now() - dt.timedelta(days=1)
    _fill_users(source_engine, _rows(1, 50, past))
    loaded = make_pipeline(_users_spec(
        connection, kind, "SELECT user_id, email, created_at FROM users WHERE updated_at > ? ORDER BY user_id",
        ["${last_run_timestamp}"]))
    materialize_pipeline(loaded)
    staging, quarantine = table_names(loaded)
    assert count(warehouse, staging) == 48
    assert codes(warehouse, quarantine) == {"INVALID_EMAIL_FORMAT": 1, "MISSING_REQUIRED_FIELD": 1}
    materialize_pipeline(loaded)  # nothing new since the watermark
    assert count(warehouse, staging) == 48
    future = dt.datetime.now() + dt.timedelta(days=1)
    with source_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users VALUES (:u, :e, :c, :t)"),
                     [{"u": str(i), "e": f"n{i}@example.com", "c": "2024-02-01", "t": future} for i in (100, 101)])
    materialize_pipeline(loaded)
    assert count(warehouse, staging) == 50


@contextlib.contextmanager
def _scratch_database(admin_url, quote: str, **admin_options):
    """A database of the test's own on a server, dropped afterwards; yields its URL."""
    name = f"cleanops_src_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, poolclass=sa.pool.NullPool, **admin_options)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {quote}{name}{quote}"))
    try:
        yield sa.make_url(admin_url).set(database=name)
    finally:
        force = " WITH (FORCE)" if quote == '"' else ""
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}"))
        admin.dispose()


def _roundtrip_on(url, plain_driver: str, kind: str, make_pipeline, warehouse, monkeypatch):
    source = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        as_user_writes_it = url.set(drivername=plain_driver).render_as_string(hide_password=False)
        _incremental_load_roundtrip(as_user_writes_it, kind, make_pipeline, warehouse, monkeypatch, source)
    finally:
        source.dispose()


@pytest.mark.server_matrix
def test_postgresql_source_is_incremental(make_pipeline, warehouse, monkeypatch, cleanops_database):
    with _scratch_database(cleanops_database.server_url.set(database="postgres"), '"',
                           isolation_level="AUTOCOMMIT") as url:
        _roundtrip_on(url, "postgresql", "postgresql", make_pipeline, warehouse, monkeypatch)


@pytest.mark.server_matrix
@pytest.mark.mysql
def test_mariadb_source_is_incremental(make_pipeline, warehouse, monkeypatch):
    server = os.environ.get("CLEANOPS_TEST_MYSQL_URL")
    if not server:
        pytest.skip("CLEANOPS_TEST_MYSQL_URL is not set (CI sets it to the MariaDB on 127.0.0.1:3306)")
    with _scratch_database(server, "`") as url:
        _roundtrip_on(url, "mysql", "mysql", make_pipeline, warehouse, monkeypatch)


@pytest.mark.server_matrix
def test_sqlite_source(tmp_path, make_pipeline, warehouse, monkeypatch):
    url = f"sqlite:///{tmp_path / 'src.db'}"
    source = sa.create_engine(url)
    _incremental_load_roundtrip(url, "sqlite", make_pipeline, warehouse, monkeypatch, source)


def test_unreachable_database_is_a_clear_error(make_pipeline, monkeypatch):
    from cleanops.ingestion.load import load_source
    from cleanops.sources import SourceError

    monkeypatch.setenv("CLEANOPS_CONN_DOWN_DB", "postgresql://nobody:secret@127.0.0.1:1/nothing")
    loaded = make_pipeline(_users_spec("down-db", "postgresql", "SELECT 1 AS user_id"))
    with pytest.raises(SourceError) as error:
        load_source(loaded, loaded.spec.data_sources[0], unique_id("run"))
    message = str(error.value)
    assert "cannot query" in message and "127.0.0.1:1" in message and "secret" not in message


def test_unset_connection_names_the_variable(make_pipeline):
    from cleanops.ingestion.load import load_source
    from cleanops.sources import SourceError

    loaded = make_pipeline(_users_spec("never-set", "postgresql", "SELECT 1 AS user_id"))
    with pytest.raises(SourceError, match="CLEANOPS_CONN_NEVER_SET"):
        load_source(loaded, loaded.spec.data_sources[0], unique_id("run"))
