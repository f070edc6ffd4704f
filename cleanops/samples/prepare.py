"""Create the sample source database the seed pipeline reads (`prod-user-db`).

The seed pipeline file is used as written: it selects users `WHERE updated_at > ?`. This
fills a `users` table on the CleanOps server, in a database of its own, the way a legacy
application database looks: ids and timestamps kept as text, so some rows break the
pipeline's rules (missing ids, non-numeric ids, missing emails, impossible dates).
`--print-url` prints the SQLAlchemy URL to put in CLEANOPS_CONN_PROD_USER_DB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random

import sqlalchemy as sa

from cleanops import settings
from cleanops.db import connection

SOURCE_DATABASE = settings.SAMPLE_SOURCE_DATABASE


def source_database() -> str:
    """The sample source's database name (tests on a shared server give each session its own)."""
    return settings.current().sample_source_database
COUNTRIES = ["DE", "FR", "GB", "US", "ES", "IT", "NL", "SE", "PL", "BR"]


def sample_users(count: int, seed: int = 7) -> list[dict]:
    """Realistic users with about 1% faulty rows of several kinds."""
    rng = random.Random(seed)
    start = dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc)
    rows = []
    for user_id in range(1, count + 1):
        created = start + dt.timedelta(minutes=rng.randrange(0, 600 * 24 * 60))
        row = {
            "user_id": str(user_id),
            "email": f"user{user_id}@example.{rng.choice(['com', 'org', 'net'])}",
            "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
            "last_login": (created + dt.timedelta(hours=rng.randrange(1, 5000))).isoformat(),
            "country": rng.choice(COUNTRIES),
            "updated_at": created + dt.timedelta(days=1),
        }
        fault = rng.random()
        if fault < 0.003:
            row["user_id"] = None
        elif fault < 0.006:
            row["user_id"] = f"U{user_id}"
        elif fault < 0.008:
            row["email"] = None
        elif fault < 0.010:
            row["created_at"] = "2023-02-30 10:00:00"
        rows.append(row)
    return rows


def source_url() -> sa.URL:
    target = connection.configured_target()
    return target.url(source_database())


def prepare(count: int = 5000) -> sa.URL:
    target = connection.ensure_database()
    admin = sa.create_engine(target.server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        name = source_database()
        if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": name}):
            conn.execute(sa.text(f"CREATE DATABASE {conn.dialect.identifier_preparer.quote(name)}"))
    admin.dispose()
    url = source_url()
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("""CREATE TABLE IF NOT EXISTS users (
            user_id text, email text, created_at text, last_login text, country text,
            updated_at timestamptz NOT NULL)"""))
        if not conn.scalar(sa.text("SELECT count(*) FROM users")):
            conn.execute(sa.text("INSERT INTO users VALUES (:user_id, :email, :created_at, :last_login, "
                                 ":country, :updated_at)"), sample_users(count))
    engine.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--print-url", action="store_true", help="only print the source database URL")
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    url = prepare(args.rows)
    if args.print_url:
        print(connection.render(url))
    else:
        print(f"sample source database ready: {url.render_as_string(hide_password=True)}")


if __name__ == "__main__":
    main()
