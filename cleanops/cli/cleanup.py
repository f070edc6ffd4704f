"""`cleanops cleanup`: preview, run, inspect and undo cleanups, and edit retention policies.

    cleanops cleanup --dry-run                  list what would be deleted, with reasons
    cleanops cleanup --run [--type T] [--yes]   delete (asks first on a terminal)
    cleanops cleanup --stats | --config         totals so far | the retention policies
    cleanops cleanup history [CLEANUP_ID]       recent cleanups | one cleanup's actions
    cleanops cleanup restore CLEANUP_ID         put back what a cleanup deleted
    cleanops cleanup policy set DATA_TYPE --retention-days N [...]

The options --db-host/--db-port/--db-name/--db-user/--db-password (or --db-url) point at
a PostgreSQL server of your own, like CLEANOPS_DATABASE_URL; the password may also come
from CLEANOPS_DB_PASSWORD and is never printed.
"""

from __future__ import annotations

import json
import os
import sys

import click

from cleanops.cli import output
from cleanops.cli.output import echo_json

CLEANUP_TYPES = ("automatic", "manual", "emergency")
POLICY_KINDS = ("runs", "files", "staged_batches", "quarantine", "archives", "duplicates", "event_logs")
POLICY_OPTIONS = {"roots": "--root", "patterns": "--pattern", "retention_days": "--retention-days",
                  "kind": "--kind", "statuses": "--status"}


class RetentionDays(click.ParamType):
    """A whole number of days from 0 to 36,500; inf, nan, 1e308 and 3.5 are refused, not rounded."""

    name = "DAYS"

    def convert(self, value, param, ctx):
        from decimal import Decimal, InvalidOperation

        from cleanops.cleanup.models import PolicyError
        from cleanops.cleanup.policies import retention_days

        if isinstance(value, int):
            number = value
        else:
            try:
                number = int(value) if str(value).strip().lstrip("+-").isdigit() else Decimal(str(value).strip())
            except (InvalidOperation, ValueError):
                self.fail(f"{value!r} is not a number of days", param, ctx)
        try:
            return retention_days(number)
        except PolicyError as error:
            self.fail(str(error), param, ctx)


def _database_url(host, port, name, user, password, url) -> str | None:
    if url:
        return url
    if not any((host, port, name, user, password)):
        return None
    from sqlalchemy.engine import URL

    host = host or "localhost"
    if host.startswith("/"):  # a unix-socket folder (libpq style) goes in the query string
        return URL.create("postgresql+psycopg", username=user or "postgres", password=password or None,
                          database=name or "cleanops", query={"host": host, "port": str(port or 5432)}
                          ).render_as_string(hide_password=False)
    return URL.create("postgresql+psycopg", username=user or "postgres", password=password or None,
                      host=host, port=port or 5432, database=name or "cleanops").render_as_string(hide_password=False)


def _engine():
    from cleanops.cleanup import policies
    from cleanops.db import connection, migrate
    from cleanops.warehouse import warehouse_engine

    connection.apply_environment()
    engine = warehouse_engine()
    migrate.migrate(engine)
    policies.seed(engine)
    return engine


@click.group(invoke_without_command=True)
@click.option("--dry-run", is_flag=True, help="List what would be deleted and why; change nothing.")
@click.option("--run", "do_run", is_flag=True, help="Archive, then delete, verify and audit.")
@click.option("--type", "cleanup_type", type=click.Choice(CLEANUP_TYPES), default="manual", show_default=True,
              help="emergency shortens retention by --emergency-factor; every safety check stays.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (required when not on a terminal).")
@click.option("--stats", is_flag=True, help="Totals of past cleanups.")
@click.option("--config", "show_config", is_flag=True, help="Show the retention policies.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--data-type", "data_types", multiple=True, help="Only these data types (repeatable).")
@click.option("--skip-backups", is_flag=True, help="Delete WITHOUT archiving first (cannot be restored).")
@click.option("--batch-size", type=click.IntRange(1), default=500, show_default=True,
              help="Objects (or rows) per transaction.")
@click.option("--rate-limit", type=float, default=0.0, help="Max objects per second (0 = unlimited).")
@click.option("--emergency-factor", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Retention multiplier for --type emergency (default CLEANOPS_EMERGENCY_FACTOR or 0.5).")
@click.option("--limit", type=int, default=200, show_default=True, help="Rows listed by --dry-run (0 = all).")
@click.option("--db-host", help="PostgreSQL host (instead of the embedded server).")
@click.option("--db-port", type=int, help="PostgreSQL port.")
@click.option("--db-name", help="Warehouse database name (the Dagster instance uses <name>_dagster).")
@click.option("--db-user", help="PostgreSQL user.")
@click.option("--db-password", envvar="CLEANOPS_DB_PASSWORD", help="PostgreSQL password (or CLEANOPS_DB_PASSWORD).")
@click.option("--db-url", help="A full SQLAlchemy URL instead of the --db-* parts.")
@click.pass_context
def cleanup(ctx, dry_run, do_run, cleanup_type, yes, stats, show_config, as_json, data_types, skip_backups,
            batch_size, rate_limit, emergency_factor, limit, db_host, db_port, db_name, db_user, db_password,
            db_url):
    """Retention cleanup: preview, archive, delete, verify, audit, restore."""
    url = _database_url(db_host, db_port, db_name, db_user, db_password, db_url)
    if url:
        os.environ["CLEANOPS_DATABASE_URL"] = url
    ctx.ensure_object(dict)["as_json"] = as_json
    if ctx.invoked_subcommand:
        return
    if dry_run and do_run:
        raise click.UsageError("choose one of --dry-run and --run")
    if show_config:
        return _show_config(as_json)
    if stats:
        return _show_stats(as_json)
    if not (dry_run or do_run):
        click.echo(ctx.get_help())
        return
    _cleanup(dry_run=dry_run, cleanup_type=cleanup_type, yes=yes, as_json=as_json, data_types=data_types,
             skip_backups=skip_backups, batch_size=batch_size, rate_limit=rate_limit,
             emergency_factor=emergency_factor, limit=limit)


def _cleanup(*, dry_run, cleanup_type, yes, as_json, data_types, skip_backups, batch_size, rate_limit,
             emergency_factor, limit):
    from cleanops.cleanup import service
    from cleanops.cleanup.models import CleanupError, CleanupOptions, emergency_factor_setting

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if not dry_run and not yes and not interactive:
        raise click.UsageError("--run needs --yes when not on a terminal")
    try:
        factor = emergency_factor or emergency_factor_setting()
        options = CleanupOptions(cleanup_type=cleanup_type, dry_run=dry_run, archive=not skip_backups,
                                 emergency_factor=factor, batch_size=batch_size, rate_limit=rate_limit,
                                 data_types=list(data_types) or None)
    except CleanupError as error:
        raise click.UsageError(str(error))

    def confirm(result) -> bool:
        if yes:
            return True
        backups = "WITHOUT backups" if skip_backups else "archived first, restorable"
        return click.confirm(f"Delete {result.candidate_count} objects ({backups})?", default=False)

    try:
        with _progress(enabled=not as_json and not dry_run) as progress_factory:
            result = service.run_cleanup(_engine(), options, list_limit=None if limit == 0 else limit,
                                         progress_factory=progress_factory, confirm=confirm)
    except CleanupError as error:
        raise click.ClickException(str(error))
    if as_json:
        echo_json(result.to_dict())
    else:
        _print_result(result)
    if result.failed:
        sys.exit(1)


class _progress:
    """Objects processed so far over a cleanup run, on stderr: a live line on a terminal,
    plain lines every few seconds in a log (a no-op for --json and dry runs)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._display = None

    def __enter__(self):
        if not self.enabled:
            return None

        def factory(total: int):
            from cleanops.cli.progress import live_progress

            self._display = live_progress("cleanup: archiving, deleting and verifying", total=total)
            display = self._display.__enter__()
            done = 0

            def advance(count: int) -> None:
                nonlocal done
                done += count
                display.update(completed=done, processed=done)

            return advance

        return factory

    def __exit__(self, *exc):
        if self._display is not None:
            self._display.__exit__(*exc)


def _print_result(result) -> None:
    console = output.console()
    opts = result.options
    head = f"cleanup {result.cleanup_id} ({opts.cleanup_type}{', dry run' if opts.dry_run else ''})"
    if result.interrupted:
        console.print(f"[yellow]earlier cleanups found interrupted: {', '.join(result.interrupted)}[/yellow]")
    for refusal in result.refused:
        console.print(f"[red]policy {refusal['data_type']} refused, nothing of it scanned:[/red] {refusal['reason']}")
    if opts.dry_run:
        table = output.table("data type", "kind", "object", "size", "reason", title=head)
        for c in result.candidates:
            table.add_row(c["data_type"], c["kind"], c["object"], str(c["size"]), c["reason"])
        console.print(table)
        more = result.candidate_count - len(result.candidates)
        if more > 0:
            console.print(f"... and {more} more (--limit 0 or --json lists all)")
        if result.kept:
            console.print(f"kept by retention or dependency checks: {len(result.kept)}")
            for k in result.kept[:20]:
                console.print(f"  keep {k['data_type']}: {k['object']} — {k['reason']}")
        console.print(f"[bold]{result.candidate_count}[/bold] objects would be deleted. "
                      "Run `cleanops cleanup --run` to delete them (archived first).")
        return
    if result.status == "cancelled":
        console.print("cancelled: nothing was deleted")
        return
    t = result.totals
    m = result.metrics()
    console.print(f"[bold]{head}[/bold]: {result.status}")
    console.print(f"planned {t.planned}, deleted {t.deleted} (files {t.files_removed}, runs {t.runs_deleted}, "
                  f"rows {t.rows_deleted}), skipped {t.skipped}, failed {t.failed}; "
                  f"cleaned {m['data_cleaned_gb']} GB, reclaimed {m['storage_reclaimed_gb']} GB")
    if result.verification and not result.verification.ok:
        console.print(f"[red]verification problems:[/red] {result.verification.problems[:10]}")
    if opts.archive and t.deleted:
        console.print(f"undo with: cleanops cleanup restore {result.cleanup_id}")


def _show_config(as_json: bool) -> None:
    from dataclasses import asdict

    from cleanops.cleanup import policies

    rows = policies.load(_engine())
    if as_json:
        return echo_json([asdict(p) for p in rows])
    table = output.table("data type", "days", "enabled", "kind", "covers", "keep last", "purpose", title="retention policies")
    for p in rows:
        covers = _listed(p.statuses) or _listed(p.roots)
        if p.patterns:
            covers += f" [{_listed(p.patterns)}]"
        table.add_row(p.data_type, f"{p.retention_days:g}", "yes" if p.enabled else "no", p.kind, covers,
                      str(p.keep_last), p.purpose)
    output.console().print(table)


def _listed(values) -> str:
    """A stored list as text (a hand-edited row may hold something else; show it as it is)."""
    return ", ".join(map(str, values)) if isinstance(values, list) else repr(values)


def _show_stats(as_json: bool) -> None:
    from cleanops.cleanup import audit

    data = audit.stats(_engine())
    if as_json:
        return echo_json(data)
    console = output.console()
    console.print(f"cleanups {data['cleanups']}: objects deleted {data['objects_deleted']} "
                  f"(runs {data['runs_deleted']}), files {output.size(data['file_bytes'])}, "
                  f"failed actions {data['failed_actions']}")
    for row in data["by_data_type"]:
        console.print(f"  {row['data_type']}: {row['deleted']} deleted")
    last = data["last_cleanup"]
    if last:
        console.print(f"last: {last['cleanup_id']} {last['cleanup_type']} {last['status']} at {last['started_at']}")


@cleanup.command()
@click.argument("cleanup_id", required=False)
@click.option("--limit", type=int, default=20, show_default=True)
@click.pass_context
def history(ctx, cleanup_id, limit):
    """Recent cleanups, or every audited action of one cleanup."""
    from cleanops.cleanup import audit

    engine = _engine()
    as_json = ctx.obj["as_json"]
    if cleanup_id:
        actions = audit.actions_of(engine, cleanup_id)
        if as_json:
            return echo_json(actions)
        table = output.table("data type", "object", "action", "status", "size", "reason / error", title=cleanup_id)
        for a in actions[: limit if limit else None]:
            table.add_row(a["data_type"], a["object"], a["action"], a["status"], str(a["size_bytes"]),
                          a["error"] or a["reason"] or "")
        output.console().print(table)
        return
    rows = audit.history(engine, limit)
    if as_json:
        return echo_json(rows)
    table = output.table("cleanup id", "type", "dry run", "status", "started", "by", "metrics", title="cleanup history")
    for r in rows:
        table.add_row(r["cleanup_id"], r["cleanup_type"], "yes" if r["dry_run"] else "no", r["status"],
                      str(r["started_at"]), r["started_by"], json.dumps(r["metrics"] or {}))
    output.console().print(table)


@cleanup.command()
@click.argument("cleanup_id")
@click.pass_context
def restore(ctx, cleanup_id):
    """Put back what CLEANUP_ID deleted: files byte-identical with mode and mtime, rows into their tables."""
    from cleanops.cleanup import restore as restoring
    from cleanops.cleanup.models import CleanupError, CleanupOptions

    try:
        report = restoring.restore(_engine(), cleanup_id, CleanupOptions().started_by)
    except CleanupError as error:
        raise click.ClickException(str(error))
    if ctx.obj["as_json"]:
        echo_json(report.to_dict())
    else:
        click.echo(f"restored {report.files_restored} files ({report.files_skipped} skipped: a file exists at "
                   f"the path) and rows {report.rows_restored or 'none'}")
        for problem in report.problems:
            click.echo(f"problem: {problem}", err=True)
    if report.problems:
        sys.exit(1)


@cleanup.group()
def policy():
    """Change retention policies at run time (no deploy needed)."""


@policy.command("set")
@click.argument("data_type")
@click.option("--retention-days", type=RetentionDays(), help="Keep objects this many days (a whole number, 0-36500).")
@click.option("--enable/--disable", "enabled", default=None, help="Turn the policy on or off.")
@click.option("--kind", type=click.Choice(POLICY_KINDS),
              help="For a new data type: what it cleans (a built-in data type keeps its own kind).")
@click.option("--root", "roots", multiple=True,
              help="Folder to scan (files; replaces the list; repeatable). Must lie inside CleanOps' own folders or "
                   "CLEANOPS_CLEANUP_ROOTS; system folders, / and whole homes are refused.")
@click.option("--pattern", "patterns", multiple=True,
              help="Glob relative to a root / job or table name (replaces the list; repeatable).")
@click.option("--status", "statuses", multiple=True, type=click.Choice(("SUCCESS", "FAILURE", "CANCELED")),
              help="Run statuses (runs; replaces the list; repeatable).")
@click.option("--keep-last", type=click.IntRange(0), help="Always keep the newest N runs of each job.")
@click.option("--purpose", help="A line saying what the data type is.")
@click.pass_context
def policy_set(ctx, data_type, retention_days, enabled, kind, roots, patterns, statuses, keep_last, purpose):
    """Create or change the policy of DATA_TYPE; unsafe roots or patterns are refused."""
    from dataclasses import asdict, replace

    from cleanops.cleanup import policies
    from cleanops.cleanup.models import CleanupOptions, PolicyError

    engine = _engine()
    try:
        current = policies.get(engine, data_type)
    except PolicyError:
        if not kind or retention_days is None:
            raise click.UsageError(f"{data_type} is new: give --kind and --retention-days")
        current = policies.Policy(data_type=data_type, retention_days=retention_days, kind=kind)
    changes = {k: v for k, v in {"retention_days": retention_days, "enabled": enabled, "kind": kind,
                                 "keep_last": keep_last, "purpose": purpose}.items() if v is not None}
    for name, values in (("roots", roots), ("patterns", patterns), ("statuses", statuses)):
        if values:
            changes[name] = list(values)
    try:
        updated = policies.save(engine, replace(current, **changes), CleanupOptions().started_by)
    except PolicyError as error:
        option = POLICY_OPTIONS.get(error.field or "")
        raise click.ClickException(f"{option}: {error}" if option else str(error))
    if ctx.obj["as_json"]:
        echo_json(asdict(updated))
    else:
        click.echo(f"{data_type}: {updated.retention_days:g} days, {'enabled' if updated.enabled else 'disabled'}")
