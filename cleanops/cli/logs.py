"""`cleanops logs PIPELINE_ID`: a run's event log, then its execution log (the seed's GET /api/v1/logs).

    cleanops logs orders-csv-001                 the latest run's events and execution log
    cleanops logs orders-csv-001 --run RUN_ID    that run's
    cleanops logs orders-csv-001 --follow        a run still going: its events as they come, until it ends

The events are Dagster's, one line each as `cleanops pipelines run --verbose` prints them
(cli.follow.format_event), with the same lines in a person's words when a step ends or
fails; the execution log is the one `cleanops runs show` prints. Ctrl-C while following
stops following, never the run.
"""

from __future__ import annotations

import sys

import click


class EchoDisplay:
    """The display `cli.follow.apply_event` writes to, for events already stored: lines, no live line."""

    def print(self, line: str) -> None:
        click.echo(line)

    def update(self, *args, **counters) -> None:
        pass


def _run_of(instance, pipeline_id: str, run_id: str | None):
    from cleanops.monitoring import runs
    from cleanops.scheduling.policy import PIPELINE_TAG

    if run_id is None:
        return runs.latest_run(instance, pipeline_id)
    record = runs.run_record(instance, run_id)
    if record is None:
        raise click.ClickException(f"no run {run_id!r} in the Dagster instance")
    owner = record.dagster_run.tags.get(PIPELINE_TAG)
    if owner not in (None, pipeline_id):
        raise click.ClickException(f"run {run_id} is a run of pipeline {owner!r}, not {pipeline_id!r}")
    return record


def _stored_events(instance, run_id: str) -> None:
    from cleanops.cli.follow import RunProgress, apply_event, format_event
    from cleanops.scheduling.launch import run_events

    state, display = RunProgress(), EchoDisplay()
    for entry in run_events(instance, run_id, follow=False):
        display.print(format_event(entry))
        apply_event(state, entry, display)


def _follow(instance, pipeline_id: str, run_id: str, header: str) -> None:
    """Print the header, then the run's events until it ends; Ctrl-C from the header on stops following."""
    from cleanops.cli.follow import follow_run
    from cleanops.cli.progress import live_progress

    try:
        click.echo(header)
        with live_progress(f"{pipeline_id} run {run_id}", stream=sys.stdout) as display:
            follow_run(instance, run_id, display, verbose=True)
    except KeyboardInterrupt:
        run = instance.get_run_by_id(run_id)
        click.echo(f"stopped following; run {run_id} goes on ({run.status.value.lower()})", err=True)
        raise SystemExit(130) from None


def _summary(instance, run_id: str) -> str:
    from cleanops.cli.status import human_duration
    from cleanops.monitoring import runs

    row = runs.run_row(runs.run_record(instance, run_id))
    return f"run {run_id}: {row['status']}, {human_duration(row['duration_seconds'])}, trigger {row['trigger']}"


def _execution_log(run_id: str, pipeline_id: str) -> None:
    from cleanops.cli.runs import execution_log, print_table
    from cleanops.ingestion.execution_log import RunNotFound

    try:
        print_table(execution_log(run_id, pipeline_id))
    except RunNotFound:
        click.echo("no execution log recorded for this run (nothing was loaded)")


@click.command()
@click.argument("pipeline_id")
@click.option("--run", "run_id", help="This run instead of the pipeline's latest.")
@click.option("--follow", is_flag=True, help="A run still going: print its events as they come until it ends.")
def logs(pipeline_id: str, run_id: str | None, follow: bool) -> None:
    """The event log of a pipeline's latest run (or --run), then its execution log."""
    from cleanops.cli.runs import known_pipeline
    from cleanops.scheduling import control

    known_pipeline(pipeline_id)
    with control.get_instance() as instance:
        record = _run_of(instance, pipeline_id, run_id)
        if record is None:
            click.echo(f"pipeline {pipeline_id} has no runs yet")
            return
        run_id = record.dagster_run.run_id
        header = f"{pipeline_id} run {run_id} ({record.dagster_run.status.value.lower()})"
        if follow and not record.dagster_run.is_finished:
            _follow(instance, pipeline_id, run_id, header)
        else:
            click.echo(header)
            _stored_events(instance, run_id)
        click.echo(_summary(instance, run_id))
    _execution_log(run_id, pipeline_id)
