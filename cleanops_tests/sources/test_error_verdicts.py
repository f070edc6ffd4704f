"""Transient or permanent, for driver errors no local server can produce on demand.

The embedded server trusts local connections (no failed login), and MariaDB is only in CI;
these cases use the drivers' own exception classes, wrapped as SQLAlchemy wraps them.
test_retry_verdicts.py covers the cases a real server produces, end to end.
"""

from __future__ import annotations

import sqlite3

import psycopg
import pymysql
import pytest
import sqlalchemy as sa

from cleanops.sources.errors import is_transient_database_error, is_transient_http_status


def wrapped(driver_error: Exception) -> sa.exc.DBAPIError:
    return sa.exc.DBAPIError.instance("SELECT 1", {}, driver_error, Exception)


@pytest.mark.parametrize("driver_error", [
    psycopg.OperationalError('connection failed: FATAL:  password authentication failed for user "shop"'),
    psycopg.OperationalError('connection failed: FATAL:  no pg_hba.conf entry for host "10.0.0.1"'),
    psycopg.OperationalError('connection failed: FATAL:  database "shop" does not exist'),
    psycopg.errors.UndefinedTable('relation "orders" does not exist'),
    psycopg.errors.InsufficientPrivilege("permission denied for table orders"),
    psycopg.errors.SyntaxError('syntax error at or near "SELEC"'),
    pymysql.err.OperationalError(1045, "Access denied for user 'shop'@'10.0.0.1'"),
    pymysql.err.ProgrammingError(1146, "Table 'shop.orders' doesn't exist"),
    sqlite3.OperationalError("no such table: orders"),
], ids=lambda e: type(e).__name__ + ":" + str(e)[:30])
def test_permanent_database_errors(driver_error):
    assert not is_transient_database_error(wrapped(driver_error))


@pytest.mark.parametrize("driver_error", [
    psycopg.OperationalError('connection failed: connection to server at "127.0.0.1", port 1 failed: '
                             "Connection refused"),
    psycopg.OperationalError("connection failed: timeout expired"),
    psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
    psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
    psycopg.errors.SerializationFailure("could not serialize access"),
    psycopg.errors.RaiseException("flaky source: attempt 1"),
    pymysql.err.OperationalError(2003, "Can't connect to MySQL server on '127.0.0.1'"),
    sqlite3.OperationalError("database is locked"),
], ids=lambda e: type(e).__name__ + ":" + str(e)[:30])
def test_transient_database_errors(driver_error):
    assert is_transient_database_error(wrapped(driver_error))


def test_http_statuses():
    assert [s for s in (400, 401, 403, 404, 408, 410, 422, 429, 500, 502, 503, 504) if is_transient_http_status(s)] \
        == [408, 429, 500, 502, 503, 504]
