"""One cleanup at a time: a session-level PostgreSQL advisory lock on the warehouse.

The lock lives as long as its connection, so a cleanup killed with -9 releases it the
moment the server notices the connection is gone; no stale lock file to clean by hand.
"""

from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa

from cleanops.cleanup.models import CleanupAlreadyRunning

CLEANUP_LOCK_ID = 0x0C1EA3


@contextmanager
def cleanup_lock(engine: sa.Engine):
    connection = engine.connect()
    try:
        if not connection.scalar(sa.text("SELECT pg_try_advisory_lock(:id)"), {"id": CLEANUP_LOCK_ID}):
            raise CleanupAlreadyRunning("another cleanup is running (PostgreSQL advisory lock is held)")
        connection.commit()
        try:
            yield
        finally:
            connection.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": CLEANUP_LOCK_ID})
            connection.commit()
    finally:
        connection.close()
