"""`cleanops quarantine`: review rejected rows — list, export, replay under current rules, accept."""

from __future__ import annotations

import csv
import getpass
import json
import sys

import click

from cleanops.cli.output import aligned, echo_json


def _pipeline(pipeline_id: str):
    from cleanops.db import connection
    from cleanops.pipelines.loader import load_pipelines

    connection.apply_environment()
    try:
        return load_pipelines().by_id(pipeline_id)
    except KeyError as error:
        raise click.ClickException(str(error.args[0]))


def _reviewer(value: str | None) -> str:
    return value or getpass.getuser()


source_option = click.option("--source", "source_id", help="Only this source id.")
code_option = click.option("--error-code", help="Only rows with this error code (e.g. OUT_OF_RANGE).")
ids_option = click.option("--id", "ids", type=int, multiple=True, help="Only these quarantine ids (repeatable).")
by_option = click.option("--by", "reviewed_by", help="Reviewer recorded on the rows (default: your user name).")


@click.group()
def quarantine() -> None:
    """Rows that failed validation: review, export, replay or accept them."""


@quarantine.command(name="list")
@click.argument("pipeline_id")
@click.option("--status", type=click.Choice(["new", "accepted", "replayed"]), default=None)
@code_option
@source_option
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def list_command(pipeline_id, status, error_code, source_id, limit, as_json) -> None:
    """Counts by status and error code, then the rows themselves (without their raw values)."""
    from cleanops.quality import quarantine as q

    pipeline = _pipeline(pipeline_id)
    counts = q.summary(pipeline, source_id)
    rows = q.list_rows(pipeline, status=status, error_code=error_code, source_id=source_id, limit=limit)
    if as_json:
        echo_json({"summary": counts, "rows": rows})
        return
    for count in counts:
        click.echo(aligned([count["source_id"], count["status"], count["error_code"], count["rows"]], [20, 9, 24]))
    if counts:
        click.echo("")
    for row in rows:
        click.echo(aligned([f"#{row['quarantine_id']}", row["status"],
                            f"{row['source_id']} row {row['row_number']}: {row['error_code']} {row['error_message']}"],
                           [7, 9]))


@quarantine.command()
@click.argument("pipeline_id")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="File (default: stdout).")
@click.option("--status", type=click.Choice(["new", "accepted", "replayed"]), default=None)
@code_option
@source_option
def export(pipeline_id, fmt, output, status, error_code, source_id) -> None:
    """Every matching row with its raw record, to fix outside CleanOps."""
    from cleanops.quality import quarantine as q

    rows = q.export_rows(_pipeline(pipeline_id), status=status, error_code=error_code, source_id=source_id)
    handle = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        count = _write(handle, rows, fmt)
    finally:
        if output:
            handle.close()
    click.echo(f"exported {count} row(s)", err=True)


def _write(handle, rows, fmt: str) -> int:
    count, writer = 0, None
    for row in rows:
        if fmt == "jsonl":
            handle.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")
        else:
            row = {**row, "raw_record": json.dumps(row["raw_record"], default=str, ensure_ascii=False)}
            if writer is None:
                writer = csv.DictWriter(handle, fieldnames=list(row))
                writer.writeheader()
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        count += 1
    return count


@quarantine.command()
@click.argument("pipeline_id")
@code_option
@ids_option
@source_option
@by_option
@click.option("--models/--no-models", default=True, show_default=True,
              help="Then run the pipeline's dbt models so the replayed rows reach the destination.")
def replay(pipeline_id, error_code, ids, source_id, reviewed_by, models) -> None:
    """Re-validate `new` rows under the current rules; passing rows move into staging (and on through dbt)."""
    from cleanops.quality import quarantine as q

    pipeline = _pipeline(pipeline_id)
    reports = q.replay(pipeline, _reviewer(reviewed_by), error_code=error_code, ids=list(ids) or None,
                       source_id=source_id)
    for r in reports:
        click.echo(f"{r.source_id}: examined {r.examined}, moved to staging {r.moved} (batch {r.batch_id}), "
                   f"still failing {r.still_failing}, unreplayable {r.unreplayable}, "
                   f"re-quarantined as duplicates {r.duplicates_requarantined}")
    if models and any(r.moved for r in reports):
        from cleanops.transform.run import run_models

        result = run_models(pipeline)
        if result is None:
            click.echo("no dbt models for this pipeline (run `python -m cleanops.transform.prepare`?)")
        else:
            click.echo(f"dbt models run {result.run_id}: {'success' if result.success else 'FAILED'}")
            if not result.success:
                raise SystemExit(1)


@quarantine.command()
@click.argument("pipeline_id")
@code_option
@ids_option
@source_option
@by_option
@click.option("--all", "accept_all", is_flag=True, help="Accept every `new` row (otherwise give --error-code or --id).")
def accept(pipeline_id, error_code, ids, source_id, reviewed_by, accept_all) -> None:
    """Mark `new` rows as reviewed and accepted: they stay in quarantine and are not replayed."""
    from cleanops.quality import quarantine as q

    if not (accept_all or error_code or ids):
        raise click.UsageError("give --error-code, --id or --all")
    count = q.accept(_pipeline(pipeline_id), _reviewer(reviewed_by), error_code=error_code, ids=list(ids) or None,
                     source_id=source_id)
    click.echo(f"accepted {count} row(s)")
