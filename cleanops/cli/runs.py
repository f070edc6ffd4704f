"""`cleanops runs`: the execution log of a run, as in the seed's execution_log.json."""

from __future__ import annotations

import json

import click

from cleanops.ingestion.execution_log import RunNotFound, build_execution_log, dagster_run_summary, latest_run_id


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


def print_execution_log(run_id: str, pipeline_id: str | None, as_json: bool) -> None:
    from cleanops.db import migrate

    engine = _engine_for(pipeline_id)
    migrate.migrate(engine)
    try:
        if run_id == "latest":
            run_id = latest_run_id(engine, pipeline_id)
        log = build_execution_log(engine, run_id, _dagster_summary(run_id))
    except RunNotFound as error:
        raise click.ClickException(str(error))
    if as_json:
        click.echo(json.dumps(log, indent=2))
    else:
        _print_table(log)


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


def _print_table(log: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    m = log["metrics"]
    console.print(f"[bold]{log['pipeline_id']}[/bold] run {log['execution_id']}: [bold]{log['status']}[/bold]",
                  soft_wrap=True)
    console.print(_timing(log), soft_wrap=True)
    console.print(f"records extracted {m['records_extracted']}, processed {m['records_processed']}, "
                  f"failed {m['records_failed']}; {m['data_volume_mb']} MB; peak memory {m['memory_usage_peak_mb']} MB",
                  soft_wrap=True)
    with_source = any("source" in step for step in log["steps"])
    steps = Table("step", *(["source"] if with_source else []), "started", "completed", "busy s", "records",
                  title="steps")
    for step in log["steps"]:
        counts = "\n".join(f"{name} {value}" for name, value in _step_counts(step))
        steps.add_row(step["step"], *([step.get("source", "")] if with_source else []), _clock(step["started_at"]),
                      _clock(step["completed_at"]), str(step.get("duration_seconds", "")), counts)
    console.print(steps)
    if log["errors"]:
        errors = Table("error_code", "count", "example", title="rejected rows by error code")
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
