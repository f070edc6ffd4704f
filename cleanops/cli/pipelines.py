"""`cleanops pipelines`: validate, list and run pipeline files."""

from __future__ import annotations

from pathlib import Path

import click

from cleanops.cli.output import aligned, echo_json
from cleanops.pipelines.loader import discover_files, load_files, load_pipelines


@click.group()
def pipelines() -> None:
    """Pipeline files: validate, list, run."""


@pipelines.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check pipeline files (default: the pipelines folder) with every rule the build applies; exit 1
    listing every error."""
    from cleanops.components.build import build_checked

    result = build_checked(load_files(list(files) if files else discover_files())).result
    for pipeline in result.pipelines:
        click.echo(f"ok    {pipeline.file}  ({pipeline.spec.pipeline_id})")
    for error in result.errors:
        click.echo(f"error {error}", err=True)
    if result.errors:
        raise SystemExit(1)


@pipelines.command(name="list")
@click.option("--json", "as_json", is_flag=True)
def list_pipelines(as_json: bool) -> None:
    """The pipelines in the pipelines folder."""
    result = load_pipelines()
    rows = [{"pipeline_id": p.spec.pipeline_id, "name": p.spec.name, "status": p.spec.status,
             "sources": [f"{s.id}:{s.type}" for s in p.spec.data_sources],
             "schedule": p.spec.schedule.expression if p.spec.schedule.type == "cron" else p.spec.schedule.type,
             "file": str(p.file)} for p in result.pipelines]
    if as_json:
        echo_json(rows)
    else:
        for row in rows:
            click.echo(aligned([row["pipeline_id"], row["status"], row["schedule"], ", ".join(row["sources"])],
                               [28, 8, 14]))
    for error in result.errors:
        click.echo(f"error {error}", err=True)


@pipelines.command()
@click.argument("pipeline_id")
@click.option("--full-refresh", is_flag=True, help="Ignore watermarks and the file ledger: load everything again.")
@click.option("--json", "as_json", is_flag=True, help="Print the execution log as JSON (stdout is JSON only).")
@click.option("--verbose", "-v", is_flag=True, help="Also print Dagster's full event log while the run goes.")
def run(pipeline_id: str, full_refresh: bool, as_json: bool, verbose: bool) -> None:
    """Run a pipeline's job in the Dagster code location (it shows on the job's page in the UI),
    show its progress on stderr, then print its execution log."""
    from cleanops.cli.runs import print_execution_log
    from cleanops.scheduling.launch import UnknownPipeline, find_pipeline

    try:
        find_pipeline(pipeline_id)
    except UnknownPipeline as error:
        raise click.ClickException(str(error)) from None
    run_id, success, output_log = _run_with_progress(pipeline_id, full_refresh, verbose)
    if not success:
        click.echo(f"run {run_id} did not succeed; output of its processes: {output_log}", err=True)
    print_execution_log(run_id, pipeline_id, as_json)
    if not success:
        raise SystemExit(1)


def _run_with_progress(pipeline_id: str, full_refresh: bool, verbose: bool) -> tuple[str, bool, Path]:
    """Start the run, follow it live on stderr; the children's own output goes to a log file."""
    import datetime as dt

    import dagster as dg

    from cleanops import settings
    from cleanops.cli.child_output import children_output_to
    from cleanops.cli.progress import live_progress
    from cleanops.scheduling.launch import started_run
    from cleanops.scheduling.control import get_instance

    instance = get_instance()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    output_log = settings.paths().logs / "runs" / f"{pipeline_id}-{stamp}.log"
    with children_output_to(output_log) as terminal, live_progress(pipeline_id, stream=terminal) as display:
        try:
            with started_run(pipeline_id, full_refresh=full_refresh, instance=instance) as started:
                display.print(f"run {started.run_id} of {pipeline_id} started")
                finished = _follow_until_end(instance, started.run_id, display, verbose)
        except dg.DagsterError as error:
            raise click.ClickException(f"could not start {pipeline_id}: {error} (see {output_log})") from None
    return started.run_id, finished is not None and finished.status == dg.DagsterRunStatus.SUCCESS, output_log


def _follow_until_end(instance, run_id: str, display, verbose: bool):
    """Follow the run; Ctrl-C terminates it rather than leaving a worker without its code server."""
    from cleanops.cli.follow import follow_run
    from cleanops.scheduling.launch import START_TIMEOUT_SECONDS, RunNeverStarted, stop_run

    try:
        return follow_run(instance, run_id, display, verbose, start_timeout_seconds=START_TIMEOUT_SECONDS)
    except RunNeverStarted as error:
        instance.report_run_failed(error.run, str(error))
        raise click.ClickException(f"{error} (marked failed)") from None
    except KeyboardInterrupt:
        stop_run(instance, run_id)
        raise click.ClickException(f"interrupted: run {run_id} stopped") from None


def _set_running(pipeline_id: str, running: bool) -> None:
    from cleanops.scheduling import control

    try:
        changes = control.set_running(pipeline_id, running)
    except KeyError as error:
        raise click.ClickException(str(error).strip('"')) from error
    for change in changes:
        click.echo(aligned([change.kind, change.name, change.status], [8, 40]))
    if not changes:
        click.echo(f"{pipeline_id} has no schedule or sensor (manual or external trigger only)")


@pipelines.command()
@click.argument("pipeline_id")
def pause(pipeline_id: str) -> None:
    """Stop the pipeline's schedule and sensors in the Dagster instance (the UI shows them stopped)."""
    _set_running(pipeline_id, False)


@pipelines.command()
@click.argument("pipeline_id")
def resume(pipeline_id: str) -> None:
    """Start the pipeline's schedule and sensors again."""
    _set_running(pipeline_id, True)
