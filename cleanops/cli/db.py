"""`cleanops db`: the database server CleanOps uses."""

from __future__ import annotations

import click

from cleanops import settings
from cleanops.db import connection, dotenv, embedded, migrate
from cleanops.warehouse import warehouse_engine


@click.group()
def db() -> None:
    """Start, stop and locate the PostgreSQL server (embedded unless CLEANOPS_DATABASE_URL is set)."""


@db.command()
def start() -> None:
    """Start the embedded server (if used), create the databases and apply migrations.

    Also writes the project's `.env`, which `dg` and `dagster` commands read (see cleanops.db.dotenv).
    """
    target = connection.configured_target()
    if target.embedded:
        layout = embedded.plan_layout(settings.home())
        if layout.note:
            click.echo(layout.note, err=True)
    target = connection.ensure_database()
    applied = migrate.migrate(warehouse_engine())
    dotenv.write_dotenv(target)
    where = "embedded server" if target.embedded else "server from CLEANOPS_DATABASE_URL"
    click.echo(f"PostgreSQL ready ({where}); warehouse {target.warehouse_database}, "
               f"instance {target.instance_database}; migrations applied: {len(applied)}")


@db.command()
def stop() -> None:
    """Stop the embedded server."""
    target = connection.configured_target()
    if not target.embedded:
        click.echo("CLEANOPS_DATABASE_URL is set: CleanOps started no server and stops none.")
        return
    stopped = embedded.stop(embedded.plan_layout(settings.home()))
    click.echo("stopped" if stopped else "not running")


@db.command()
def status() -> None:
    """Say which server is used and whether it runs; exit 1 when it does not."""
    target = connection.configured_target()
    if target.embedded:
        layout = embedded.plan_layout(settings.home())
        running = embedded.is_running(layout)
        click.echo(f"embedded PostgreSQL in {layout.data_dir}: {'running' if running else 'stopped'}")
    else:
        import sqlalchemy as sa

        try:
            engine = sa.create_engine(target.server_url, poolclass=sa.pool.NullPool)
            with engine.connect() as conn:
                version = conn.scalar(sa.text("SHOW server_version"))
            running = True
            click.echo(f"{target.server_url.render_as_string(hide_password=True)}: PostgreSQL {version}")
        except Exception as error:  # any failure to connect is the answer
            running = False
            click.echo(f"{target.server_url.render_as_string(hide_password=True)}: unreachable ({error})")
    raise SystemExit(0 if running else 1)


@db.command()
@click.option("--instance", is_flag=True, help="The Dagster instance's database instead of the warehouse.")
def url(instance: bool) -> None:
    """Print the SQLAlchemy URL of the warehouse (or, with --instance, the Dagster instance)."""
    target = connection.configured_target()
    click.echo(connection.render(target.instance_url if instance else target.warehouse_url))
