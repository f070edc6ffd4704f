"""`cleanops alerts`: what the monitoring sensor raised — list, acknowledge, resolve.

    cleanops alerts list [--all] [--pipeline ID] [--json]   open alerts (active, acknowledged)
    cleanops alerts ack ID [--json]                          acknowledged: stays open, no reminders
    cleanops alerts resolve ID [--json]                      closed by hand

Messages are redacted (`secrets.redact`) before they are printed.
"""

from __future__ import annotations


import click

from cleanops.cli.output import echo_json

STATUSES = ("active", "acknowledged", "resolved")


def _engine():
    from cleanops.db import connection
    from cleanops.monitoring import store

    connection.apply_environment()
    return store.warehouse()


def _public(alert: dict) -> dict:
    from cleanops import secrets

    shown = {key: (value.isoformat() if hasattr(value, "isoformat") else value) for key, value in alert.items()}
    shown["message"] = secrets.redact(shown.get("message") or "")
    return shown


def _line(alert: dict) -> str:
    where = alert["pipeline_id"] + (f" {alert['asset_key']}" if alert.get("asset_key") else "")
    return (f"{alert['alert_id']:>6}  {alert['status']:<12} {alert['severity']:<7} {alert['rule']:<22} {where}  "
            f"x{alert['occurrences']}  last {alert['last_seen']:%Y-%m-%d %H:%M:%S}  {alert['link'] or ''}")


@click.group()
def alerts() -> None:
    """Alerts raised from failed runs and checks (docs/monitoring.md)."""


@alerts.command(name="list")
@click.option("--all", "everything", is_flag=True, help="Include resolved alerts.")
@click.option("--pipeline", "pipeline_id", help="Only this pipeline's alerts.")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True)
def list_command(everything: bool, pipeline_id: str | None, limit: int, as_json: bool) -> None:
    """Open alerts (active and acknowledged), most recently seen first."""
    from cleanops.monitoring.alerts import store

    statuses = STATUSES if everything else store.OPEN
    rows = store.listing(_engine(), statuses, pipeline_id, limit)
    if as_json:
        echo_json([_public(row) for row in rows])
        return
    if not rows:
        click.echo("no open alerts" if not everything else "no alerts")
    for row in rows:
        click.echo(_line(row))
        click.echo(f"        {_public(row)['message']}")


def _change(alert_id: int, status: str, as_json: bool) -> None:
    from cleanops.monitoring.alerts import store

    engine = _engine()
    before = store.get(engine, alert_id)
    if before is None:
        raise click.ClickException(f"no alert {alert_id}")
    after = store.set_status(engine, alert_id, status)
    if as_json:
        echo_json(_public(after))
    elif before["status"] == "resolved":
        click.echo(f"alert {alert_id} was already resolved")
    else:
        click.echo(f"alert {alert_id}: {before['status']} -> {after['status']}")


@alerts.command()
@click.argument("alert_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def ack(alert_id: int, as_json: bool) -> None:
    """Acknowledge: someone is on it; it stays open and sends no reminders."""
    _change(alert_id, "acknowledged", as_json)


@alerts.command()
@click.argument("alert_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def resolve(alert_id: int, as_json: bool) -> None:
    """Resolve by hand; the same condition later opens a new alert."""
    _change(alert_id, "resolved", as_json)
