"""`cleanops status`: the seed's Dashboard Overview in a terminal, or as JSON.

    cleanops status           counts, figures, each pipeline's latest and next run, active alerts
    cleanops status --json    the same as one JSON object (keys in docs/monitoring.md)
"""

from __future__ import annotations


import click

from cleanops.cli.output import echo_json


def human_duration(seconds: float | None) -> str:
    """2m 34s, 1h 05m, 45s; '-' for none."""
    if seconds is None:
        return "-"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{seconds:.1f}s" if seconds < 10 else f"{secs}s"


def short_time(text: str | None) -> str:
    """2026-12-02T17:30:05.123Z → 2026-12-02 17:30:05Z."""
    return f"{text[:10]} {text[11:19]}Z" if text else "-"


def _overview() -> dict:
    from cleanops.monitoring import store
    from cleanops.monitoring.status import overview
    from cleanops.scheduling import control

    with control.get_instance() as instance:
        return overview(instance, store.warehouse())


def print_overview(data: dict) -> None:
    from rich.table import Column

    from cleanops.cli import output

    console = output.console()
    c, p = data["counts"], data["performance"]
    hours = data["window_seconds"] / 3600
    console.print(f"[bold]CleanOps status[/bold] at {short_time(data['timestamp'])}", soft_wrap=True)
    console.print(f"running {c['running']}   queued {c['queued']}   scheduled {c['scheduled']}   "
                  f"failed {c['failed']}   completed {c['completed']}   (failed and completed: last {hours:g} h)",
                  soft_wrap=True)
    console.print(f"success rate {p['success_rate_percent']:g}% of {p['total_executions_24h']} finished runs, "
                  f"average {human_duration(p['avg_execution_time_seconds'])}, "
                  f"data processed {p['data_processed_mb']:,.3f} MB ({p['records_processed']:,} records)",
                  soft_wrap=True)
    table = output.table(Column("pipeline", no_wrap=True), "status", "duration", "last run", "next run", "trigger",
                         title="recent executions")
    for line in data["recent_executions"]:
        status = (line["status"] or "never run") + (" (overdue)" if line["overdue"] else "")
        table.add_row(line["pipeline_id"], status, human_duration(line["duration_seconds"]),
                      short_time(line["last_run"]), short_time(line["next_run"]), line["trigger"])
    console.print(table if data["recent_executions"] else "no pipelines in the pipelines folder")
    alerts = data["active_alerts"]
    if not alerts:
        console.print("active alerts: none")
        return
    shown = [key for key in ("alert_id", "id", "rule", "pipeline_id", "severity", "status", "last_seen")
             if key in alerts[0]]
    table = output.table(*shown, title=f"active alerts ({len(alerts)})")
    for alert in alerts:
        table.add_row(*(str(alert.get(key, "")) for key in shown))
    console.print(table)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The overview as one JSON object.")
def status(as_json: bool) -> None:
    """Running, queued, scheduled, failed and completed runs; each pipeline's last and next run; alerts."""
    data = _overview()
    if as_json:
        echo_json(data)
    else:
        print_overview(data)
