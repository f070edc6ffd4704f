"""Which source failures are worth a retry.

A pipeline's `retry_policy` retries a failed step after a growing delay. That helps when
the failure may pass by itself (a timeout, a refused or dropped connection, a server
answering 5xx or 429) and only hides the cause when it cannot (a connection that is not
configured, a wrong password, a missing table, a 404, a malformed response): those must
fail at once, with their own message. Readers raise `TransientSourceError` for the first
kind and plain `SourceError` for the second.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from cleanops.sources.base import SourceError


class TransientSourceError(SourceError):
    """A source failure that may pass: the step is worth retrying."""


TRANSIENT_HTTP_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

# SQLSTATE classes (PostgreSQL, also used by other servers): the first two characters.
_PERMANENT_SQLSTATE_CLASSES = {
    "0A",  # feature not supported
    "22",  # data exception (a bad cast in the query)
    "28",  # invalid authorization: wrong user or password
    "3D",  # database does not exist
    "3F",  # schema does not exist
    "42",  # syntax error, missing table or column, no permission
}
# MySQL/MariaDB error numbers: access denied, unknown database, missing table or column,
# syntax error, command denied.
_PERMANENT_MYSQL_CODES = {1044, 1045, 1049, 1054, 1064, 1142, 1146}
# Connection failures carry no SQLSTATE in psycopg: recognise the permanent ones by text.
_PERMANENT_CONNECTION_TEXT = re.compile(
    r"authentication failed|no pg_hba\.conf entry|does not exist|access denied|unknown database"
    r"|no such table|unable to open database",
    re.IGNORECASE,
)


def _sqlstate(driver_error: BaseException | None) -> str | None:
    """The SQLSTATE of a psycopg (3 or 2) error, when the server sent one."""
    return getattr(driver_error, "sqlstate", None) or getattr(driver_error, "pgcode", None)


def _mysql_code(driver_error: BaseException | None) -> int | None:
    args = getattr(driver_error, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def is_transient_database_error(error: sa.exc.DBAPIError) -> bool:
    """Whether a query or connection failure may pass (so a retry is worth it).

    Unknown failures (an exception raised by a database function, a dropped connection)
    count as transient: a retry costs a delay, a wrong verdict the whole load.
    """
    driver_error = error.orig
    sqlstate = _sqlstate(driver_error)
    if sqlstate:
        return sqlstate[:2] not in _PERMANENT_SQLSTATE_CLASSES
    mysql_code = _mysql_code(driver_error)
    if mysql_code is not None and mysql_code in _PERMANENT_MYSQL_CODES:
        return False
    return not _PERMANENT_CONNECTION_TEXT.search(str(driver_error or error))


def is_transient_http_status(status: int) -> bool:
    return status in TRANSIENT_HTTP_STATUSES
