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


def _load_optional_groups() -> None:
    from cleanops.optional import import_if_present

    for module_name, attribute in (
        ("cleanops.cli.cleanup", "cleanup"),
        ("cleanops.cli.quality", "quality"),
        ("cleanops.cli.quarantine", "quarantine"),
        ("cleanops.cli.lineage", "lineage"),
        ("cleanops.cli.schedules", "schedules"),
        ("cleanops.cli.trigger", "trigger"),
    ):
        module = import_if_present(module_name)
        if module is not None:
            cli.add_command(getattr(module, attribute))


_load_optional_groups()


def main() -> None:
    cli()
