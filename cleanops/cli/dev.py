"""`cleanops dev` and `cleanops env`: run Dagster against the CleanOps database."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import click

from cleanops import settings
from cleanops.db import connection


@click.command()
@click.option("--port", default=3000, show_default=True)
def dev(port: int) -> None:
    """Start the database, then the Dagster UI and daemon (dagster dev) on 127.0.0.1."""
    connection.apply_environment()
    os.chdir(settings.PROJECT_ROOT)
    # The venv's own tools (dagster, dbt), whether or not the venv is activated.
    bin_dir = Path(sys.executable).parent
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    os.execv(str(bin_dir / "dagster"), ["dagster", "dev", "-h", "127.0.0.1", "-p", str(port), "-w",
                                        str(settings.PROJECT_ROOT / "workspace.yaml")])


@click.command()
def env() -> None:
    """Print shell exports for running `dagster` commands yourself (eval "$(cleanops env)")."""
    target = connection.ensure_database()
    for key, value in connection.export_environment(target).items():
        click.echo(f"export {key}={shlex.quote(value)}")
