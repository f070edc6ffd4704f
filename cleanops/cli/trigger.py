"""`cleanops trigger`: the external trigger — queue a run of a pipeline now."""

from __future__ import annotations

import click

from cleanops.scheduling.policy import PRIORITY_VALUES


@click.command()
@click.argument("pipeline_id")
@click.option("--priority", type=click.Choice(list(PRIORITY_VALUES)), help="Override the pipeline's priority.")
@click.option("--file", "file", help="For file pipelines: load only this file (absolute path).")
def trigger(pipeline_id: str, priority: str | None, file: str | None) -> None:
    """Queue a run of PIPELINE_ID; the Dagster daemon starts it by priority (see `cleanops dev`)."""
    from cleanops.scheduling import control

    try:
        run = control.trigger_run(pipeline_id, priority=priority, file=file)
    except KeyError as error:
        raise click.ClickException(str(error).strip('"')) from error
    click.echo(f"queued run {run.run_id} of {pipeline_id} (status {run.status.value})")
