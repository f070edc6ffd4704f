"""Entry point of the `cleanops` command; each group lives in its own module."""

from __future__ import annotations

import click

from cleanops.cli import db as db_commands
from cleanops.cli import dev as dev_commands
from cleanops.cli import pipelines as pipeline_commands
from cleanops.cli import runs as run_commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """CleanOps: data pipelines on Dagster that ingest, validate, stage and clean up."""
    from cleanops import log_redaction

    log_redaction.install()


cli.add_command(db_commands.db)
cli.add_command(pipeline_commands.pipelines)
cli.add_command(run_commands.runs)
cli.add_command(dev_commands.dev)
cli.add_command(dev_commands.env)


def register(command: click.Command) -> None:
    """Other areas (cleanup, quality, scheduling) add their groups here."""
    cli.add_command(command)


def _add_groups() -> None:
    from cleanops.cli import (alerts, cleanup, lineage, logs, metrics, quality, quarantine, schedules, status,
                              trigger)

    for group in (cleanup.cleanup, quality.quality, quarantine.quarantine, lineage.lineage,
                  schedules.schedules, trigger.trigger, metrics.metrics, status.status, logs.logs, alerts.alerts):
        cli.add_command(group)


_add_groups()


def main() -> None:
    cli()
