"""`cleanops quality`: rules, on-demand checks and the quality report of a pipeline."""

from __future__ import annotations

import uuid

import click

from cleanops.cli.output import echo_json


def _pipeline(pipeline_id: str):
    from cleanops.pipelines.loader import load_pipelines

    try:
        return load_pipelines().by_id(pipeline_id)
    except KeyError as error:
        raise click.ClickException(str(error.args[0]))


@click.group()
def quality() -> None:
    """Data-quality rules (Great Expectations in PostgreSQL) and their history."""


@quality.command()
@click.argument("pipeline_id")
def rules(pipeline_id: str) -> None:
    """The rules each table of a pipeline is checked against."""
    from cleanops.quality.checks import describe
    from cleanops.quality.rules import check_targets

    for target in check_targets(_pipeline(pipeline_id)):
        click.echo(target.label)
        for rule in target.rules:
            blocking = "blocking" if rule.rule.severity == "error" else "warning"
            click.echo(f"  {rule.name:<36} {blocking:<9} {describe(rule)}")


@quality.command()
@click.argument("pipeline_id")
def check(pipeline_id: str) -> None:
    """Run the pipeline's suites now (outside a pipeline run) and record the results."""
    from cleanops.db import connection
    from cleanops.quality.checks import evaluate
    from cleanops.quality.rules import check_targets
    from cleanops.warehouse import WarehouseResource

    connection.apply_environment()
    warehouse = WarehouseResource()
    run_id = f"cli-{uuid.uuid4()}"
    failed_blocking = False
    for target in check_targets(_pipeline(pipeline_id)):
        for outcome in evaluate(target, run_id, warehouse=warehouse):
            status = "pass" if outcome.success else "FAIL"
            failed_blocking |= not outcome.success and outcome.rule.rule.severity == "error"
            click.echo(f"{status:<5} {target.label} {outcome.rule.name} ({outcome.rule.rule.severity}) "
                       f"unexpected={outcome.unexpected_count} observed={outcome.observed_value}"
                       f"{' error=' + outcome.error if outcome.error else ''}")
    click.echo(f"recorded as run {run_id}")
    if failed_blocking:
        raise SystemExit(1)


ENGINE_LABELS = {"great_expectations": "GE", "dbt": "dbt test"}


def _trend(values: list[bool]) -> str:
    return "".join("✓" if ok else "✗" for ok in reversed(values))


@quality.command()
@click.argument("pipeline_id")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--trend", default=10, show_default=True, help="How many recent runs the trend covers.")
def report(pipeline_id: str, as_json: bool, trend: int) -> None:
    """Per rule: the latest result and its trend over recent runs (oldest → newest)."""
    from cleanops.db import connection
    from cleanops.quality import history
    from cleanops.warehouse import WarehouseResource

    connection.apply_environment()
    pipeline = _pipeline(pipeline_id)
    entries = history.report(WarehouseResource().engine_for(pipeline.spec), pipeline_id, trend)
    if as_json:
        echo_json({"pipeline_id": pipeline_id, "rules": entries})
        return
    if not entries:
        click.echo(f"no quality results for {pipeline_id} yet: run the pipeline or `cleanops quality check`")
        return
    from cleanops.cli import output

    table = output.table(title=f"quality of {pipeline_id}")
    for column in ("asset", "rule", "engine", "severity", "latest", "unexpected", "observed", "trend", "pass rate",
                   "checked at"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        latest = entry["latest"]
        table.add_row(entry["asset"], entry["rule"], ENGINE_LABELS.get(entry["engine"], entry["engine"]),
                      entry["severity"],
                      "pass" if latest["success"] else "FAIL", str(latest["unexpected_count"] or 0),
                      "-" if latest["observed_value"] is None else str(latest["observed_value"])[:24], _trend(entry["trend"]), f"{entry['pass_rate']:.0%}",
                      latest["checked_at"][:19])
    output.show(table)
