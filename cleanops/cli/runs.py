"""`cleanops runs`: the execution log of a run, as in the seed's execution_log.json."""

from __future__ import annotations

import json

import click

from cleanops.cli.metrics import Duration
from cleanops.ingestion.execution_log import RunNotFound, build_execution_log, dagster_run_summary, latest_run_id
from cleanops.monitoring.runs import STATUSES


@click.group()
def runs() -> None:
    """Pipeline runs and their execution logs."""


def _engine_for(pipeline_id: str | None):
    from cleanops.warehouse import WarehouseResource

    warehouse = WarehouseResource()
    if pipeline_id:
        from cleanops.pipelines.loader import load_pipelines

        try:
            return warehouse.engine_for(load_pipelines().by_id(pipeline_id).spec)
        except KeyError:
            pass
    return warehouse.engine()


def _dagster_summary(run_id: str):
    try:
        import dagster as dg

        from cleanops.db import connection

        connection.apply_environment()
        return dagster_run_summary(dg.DagsterInstance.get(), run_id)
    except Exception:  # the warehouse log alone is still worth printing
        return None


def execution_log(run_id: str, pipeline_id: str | None) -> dict:
    """The run's execution log (`latest`: the pipeline's latest); RunNotFound when none is recorded."""
    from cleanops.db import migrate

    engine = _engine_for(pipeline_id)
    migrate.migrate(engine)
    if run_id == "latest":
        run_id = latest_run_id(engine, pipeline_id)
    return build_execution_log(engine, run_id, _dagster_summary(run_id))


def print_execution_log(run_id: str, pipeline_id: str | None, as_json: bool) -> None:
    try:
        log = execution_log(run_id, pipeline_id)
    except RunNotFound as error:
        raise click.ClickException(str(error))
    if as_json:
        click.echo(json.dumps(log, indent=2))
    else:
        print_table(log)


def _clock(timestamp: str | None) -> str:
    """2026-01-20T14:30:22.123456Z → 14:30:22.123 (the date is in the header line)."""
    return timestamp[11:23] if timestamp else ""


def _timing(log: dict) -> str:
    if not log["completed_at"]:
        return f"started {log['started_at']}, not finished"
    return f"started {log['started_at']}, completed {log['completed_at']} ({log['duration_seconds']} s)"


def _step_counts(step: dict) -> list[tuple[str, object]]:
    """The step's `records_*` counts; a step that materializes no asset (checks) shows none."""
    return [(key.removeprefix("records_"), value) for key, value in step.items()
            if key.startswith("records_") and not (key == "records_materialized_assets" and not value)]


def print_table(log: dict) -> None:
    from cleanops.cli import output

    console = output.console()
    m = log["metrics"]
    console.print(f"[bold]{log['pipeline_id']}[/bold] run {log['execution_id']}: [bold]{log['status']}[/bold]",
                  soft_wrap=True)
    console.print(_timing(log), soft_wrap=True)
    console.print(f"records extracted {m['records_extracted']}, processed {m['records_processed']}, "
                  f"failed {m['records_failed']}; {m['data_volume_mb']} MB; peak memory {m['memory_usage_peak_mb']} MB",
                  soft_wrap=True)
    with_source = any("source" in step for step in log["steps"])
    steps = output.table("step", *(["source"] if with_source else []), "started", "completed", "busy s", "records",
                  title="steps")
    for step in log["steps"]:
        counts = "\n".join(f"{name} {value}" for name, value in _step_counts(step))
        steps.add_row(step["step"], *([step.get("source", "")] if with_source else []), _clock(step["started_at"]),
                      _clock(step["completed_at"]), str(step.get("duration_seconds", "")), counts)
    console.print(steps)
    if log["errors"]:
        errors = output.table("error_code", "count", "example", title="rejected rows by error code")
        for error in log["errors"]:
            errors.add_row(error["error_code"], str(error["count"]), error["message"])
        console.print(errors)


@runs.command()
@click.argument("run_id")
@click.option("--pipeline", "pipeline_id", help="With `latest`: the latest run of this pipeline.")
@click.option("--json", "as_json", is_flag=True)
def show(run_id: str, pipeline_id: str | None, as_json: bool) -> None:
    """Print the execution log of RUN_ID (or `latest`)."""
    print_execution_log(run_id, pipeline_id, as_json)


def known_pipeline(pipeline_id: str):
    """The pipeline of `pipeline_id`, or a ClickException naming the known ids."""
    from cleanops.scheduling.launch import UnknownPipeline, find_pipeline

    try:
        return find_pipeline(pipeline_id)
    except UnknownPipeline as error:
        raise click.ClickException(str(error)) from None


def _print_runs(rows: list[dict]) -> None:
    """One line a run (ids are never wrapped or cut, so they can be copied into `cleanops logs --run`)."""
    from cleanops.cli.status import human_duration, short_time

    if not rows:
        click.echo("no runs match")
        return
    width = max(8, *(len(row["pipeline_id"] or row["job_name"]) for row in rows))
    click.echo(f"{'run id':<36}  {'pipeline':<{width}}  {'status':<11} {'started':<20} {'duration':>8}  trigger")
    for row in rows:
        click.echo(f"{row['run_id']:<36}  {row['pipeline_id'] or row['job_name']:<{width}}  {row['status']:<11} "
                   f"{short_time(row['started_at'] or row['created_at']):<20} "
                   f"{human_duration(row['duration_seconds']):>8}  {row['trigger']}")


@runs.command(name="list")
@click.option("--pipeline", "pipeline_id", help="Only the runs of this pipeline (its id).")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES, case_sensitive=False),
              help="Only runs in this Dagster status; repeat for several.")
@click.option("--since", "window", type=Duration(), help="Only runs created within this long: 30m, 24h, 7d ...")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="The runs as a JSON list.")
def list_runs(pipeline_id: str | None, statuses: tuple[str, ...], window, limit: int, as_json: bool) -> None:
    """Runs of the Dagster instance, newest first: id, pipeline, status, start, duration, trigger."""
    import datetime as dt

    from cleanops.monitoring import runs as run_rows
    from cleanops.scheduling import control

    if pipeline_id:
        known_pipeline(pipeline_id)
    since = dt.datetime.now(dt.timezone.utc) - window if window else None
    with control.get_instance() as instance:
        rows = run_rows.list_runs(instance, pipeline_id, [s.lower() for s in statuses], since, limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        _print_runs(rows)
