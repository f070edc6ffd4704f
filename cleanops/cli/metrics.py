"""`cleanops metrics`: system, pipeline and cleanup figures now (the seed's metrics.json).

    cleanops metrics                      a short table
    cleanops metrics --json               the seed's keys, plus new ones (p95, records, window)
    cleanops metrics --prometheus         Prometheus text exposition (gauges cleanops_*)
    cleanops metrics --since 7d           pipeline and cleanup figures over 7 days (default 24h)

The figures are collected by the same function as the `cleanops_metrics` asset; the CLI
prints them and stores nothing.
"""

from __future__ import annotations

import click

from cleanops.monitoring.durations import DurationError, parse_duration


class Duration(click.ParamType):
    """`--since`: 30m, 24h, 7d, 1h30m; anything else is a usage error naming the option."""

    name = "DURATION"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        try:
            return parse_duration(value)
        except DurationError as error:
            self.fail(str(error), param, ctx)


def _collect(window):
    """Dagster's instance and the warehouse, as the asset sees them."""
    import dagster as dg

    from cleanops.db import connection
    from cleanops.monitoring import store
    from cleanops.monitoring.collect import collect

    connection.apply_environment()
    with dg.DagsterInstance.get() as instance:
        return collect(instance, store.warehouse(), window)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The figures as JSON (the seed's metrics.json keys).")
@click.option("--prometheus", is_flag=True, help="Prometheus text exposition format.")
@click.option("--since", "window", type=Duration(), default="24h", show_default=True,
              help="Window of the pipeline and cleanup figures: 30m, 24h, 7d, 1h30m ...")
def metrics(as_json: bool, prometheus: bool, window) -> None:
    """Print CPU, memory, disk and network, pipeline runs and cleanup totals."""
    from cleanops.monitoring import render

    if as_json and prometheus:
        raise click.UsageError("--json and --prometheus are alternatives; give one")
    snapshot = _collect(window)
    if as_json:
        click.echo(render.as_json(snapshot))
    elif prometheus:
        click.echo(render.as_prometheus(snapshot), nl=False)
    else:
        _print_table(snapshot)


TITLES = {"system_metrics": "system (now)", "pipeline_metrics": "pipelines", "cleanup_metrics": "cleanup"}


def _shown(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.6f}".rstrip("0").rstrip(".")
    return f"{value:,}"


def _print_table(snapshot) -> None:
    from cleanops.cli import output
    from cleanops.monitoring.snapshot import GROUPS

    hours = snapshot.window_seconds / 3600
    tables = []
    for group in GROUPS:
        table = output.table("metric", "value", title=TITLES[group])
        for name, value in getattr(snapshot, group).items():
            table.add_row(name, _shown(value))
        tables.append(table)
    output.show(f"[bold]CleanOps metrics[/bold] at {snapshot.to_dict()['timestamp']}; "
                f"pipelines and cleanup over the last {hours:g} h", *tables)
