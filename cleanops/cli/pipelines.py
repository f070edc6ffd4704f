"""`cleanops pipelines`: validate, list and run pipeline files."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cleanops.pipelines.loader import discover_files, load_files, load_pipelines


@click.group()
def pipelines() -> None:
    """Pipeline files: validate, list, run."""


@pipelines.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def validate(files: tuple[Path, ...]) -> None:
    """Check pipeline files (default: the pipelines folder) with every rule the build applies; exit 1
    listing every error."""
    from cleanops.pipelines.factory import build_checked

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
        click.echo(json.dumps(rows, indent=2))
    else:
        for row in rows:
            click.echo(f"{row['pipeline_id']:<28} {row['status']:<8} {str(row['schedule']):<14} "
                       f"{', '.join(row['sources'])}")
    for error in result.errors:
        click.echo(f"error {error}", err=True)


@pipelines.command()
@click.argument("pipeline_id")
@click.option("--full-refresh", is_flag=True, help="Ignore watermarks and the file ledger: load everything again.")
@click.option("--json", "as_json", is_flag=True, help="Print the execution log as JSON.")
def run(pipeline_id: str, full_refresh: bool, as_json: bool) -> None:
    """Materialize a pipeline through Dagster (the run shows in the UI), then print its execution log."""
    from cleanops.cli.runs import print_execution_log
    from cleanops.pipelines.runner import run_pipeline

    outcome = run_pipeline(pipeline_id, full_refresh=full_refresh)
    print_execution_log(outcome.run_id, pipeline_id, as_json)
    if not outcome.success:
        raise SystemExit(1)


def _set_running(pipeline_id: str, running: bool) -> None:
    from cleanops.scheduling import control

    try:
        changes = control.set_running(pipeline_id, running)
    except KeyError as error:
        raise click.ClickException(str(error).strip('"')) from error
    for change in changes:
        click.echo(f"{change.kind:<8} {change.name:<40} {change.status}")
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
