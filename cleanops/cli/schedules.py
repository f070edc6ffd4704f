"""`cleanops schedules`: what runs when (the seed's /api/v1/schedules endpoints)."""

from __future__ import annotations

import click

from cleanops.cli.output import aligned, echo_json


@click.group()
def schedules() -> None:
    """Schedules, sensors and dependency triggers of the pipelines."""


@schedules.command(name="list")
@click.option("--json", "as_json", is_flag=True)
def list_schedules(as_json: bool) -> None:
    """Every pipeline's trigger, priority, overdue state and whether its schedule/sensors are running."""
    from cleanops.scheduling import control

    rows = control.schedule_rows(control.get_instance())
    if as_json:
        echo_json([row.__dict__ for row in rows])
        return
    for row in rows:
        states = ", ".join(f"{name}={state}" for name, state in row.instigators.items()) or "-"
        late = "OVERDUE" if row.overdue else "ok"
        click.echo(aligned([row.pipeline_id, row.kind, row.detail, row.timezone, row.priority, late, states],
                           [28, 16, 20, 16, 8, 8]))


@schedules.command(name="next")
@click.argument("pipeline_id")
@click.option("-n", "count", default=5, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True)
def next_runs(pipeline_id: str, count: int, as_json: bool) -> None:
    """The next N run times of a cron pipeline, in its time zone and in UTC."""
    import datetime as dt

    from cleanops.pipelines.loader import load_pipelines
    from cleanops.scheduling import control

    try:
        times = control.next_runs(load_pipelines().by_id(pipeline_id), count)
    except (KeyError, ValueError) as error:
        raise click.ClickException(str(error).strip('"')) from error
    if as_json:
        echo_json({"pipeline_id": pipeline_id, "next_runs": [t.isoformat() for t in times]})
        return
    for when in times:
        click.echo(f"{when.isoformat()}  ({when.astimezone(dt.timezone.utc).isoformat().replace('+00:00', 'Z')})")
