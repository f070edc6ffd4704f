"""One evaluation of the alert rules: what happened since the cursor, applied to `cleanops.alerts`.

Built for 20,000 runs a day: it reads only the events stored after the cursor (a storage
id), by type and in storage order, a page at a time: run failures and successes through
`fetch_run_status_changes`, check evaluations through `get_event_records`. The runs those
events belong to are read in one query per page (`RunsFilter(run_ids=...)`), for their
pipeline tag. Nothing loops over all runs; an evaluation with nothing new costs four
indexed queries.

The first evaluation (no cursor) starts at the newest event: switching alerts on does not
replay history. A new alert sends one message per target of its pipeline's `on_failure`
plus CLEANOPS_NOTIFY_DEFAULT_TO and CLEANOPS_NOTIFY_WEBHOOK_URL; a recurrence while it is
open only bumps it; a success (or passing check) that resolves it tells `on_success`.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa

from cleanops import secrets, settings
from cleanops.monitoring.alerts import notify, rules, store

log = logging.getLogger(__name__)
PAGE = 500
MAX_PAGES = 40
OVERDUE_EVERY_SECONDS = 300
RUN_EVENTS = (dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_SUCCESS)
CHECK_EVENT = dg.DagsterEventType.ASSET_CHECK_EVALUATION
MATERIALIZATION = dg.DagsterEventType.ASSET_MATERIALIZATION
OTHER_EVENTS = (CHECK_EVENT, MATERIALIZATION)


@dataclass(frozen=True)
class Routing:
    """A pipeline's `notifications` block, as the sender needs it."""

    on_failure: tuple[str, ...] = ()
    on_success: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()


class PipelinesFolder:
    """The pipeline files, loaded on first use only: most evaluations raise nothing, have no
    overdue check due, and read no file."""

    def __init__(self) -> None:
        self._specs: dict | None = None

    def specs(self) -> dict:
        if self._specs is None:
            from cleanops.pipelines.loader import load_pipelines

            try:
                loaded = load_pipelines(settings.pipelines_dir()).pipelines
            except Exception as error:  # noqa: BLE001 - a broken folder must not stop alerting on runs
                log.warning("pipelines folder unreadable for alerts (%s): no routing, no overdue check",
                            secrets.redact(str(error)))
                loaded = []
            self._specs = {p.spec.pipeline_id: p.spec for p in loaded}
        return self._specs

    def routing(self, pipeline_id: str) -> Routing:
        spec = self.specs().get(pipeline_id)
        if spec is None:
            return Routing()
        block = spec.notifications
        return Routing(tuple(block.on_failure), tuple(block.on_success), tuple(block.channels))


@dataclass
class Evaluation:
    cursor: str
    events: int = 0
    raised: list[int] = field(default_factory=list)
    bumped: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    notifications: list[notify.Outcome] = field(default_factory=list)

    def summary(self) -> str:
        failed = sum(1 for n in self.notifications if not n.sent)
        return (f"{self.events} events: {len(self.raised)} alerts raised, {len(self.bumped)} recurring, "
                f"{len(self.resolved)} resolved; {len(self.notifications)} notifications ({failed} failed)")


def _event_records(instance: dg.DagsterInstance, event_type, after: int, limit: int) -> list:
    """Check evaluations or materializations of any asset after a storage id: Dagster has no
    other public read of them across assets in storage order (fetch_materializations wants
    one asset key), so the deprecated call is used with its warning silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(instance.get_event_records(dg.EventRecordsFilter(event_type=event_type, after_cursor=after),
                                               limit=limit, ascending=True))


def _run_records(instance: dg.DagsterInstance, event_type, after: int, limit: int) -> list:
    result = instance.fetch_run_status_changes(
        dg.RunStatusChangeRecordsFilter(event_type=event_type, after_storage_id=after), limit=limit, ascending=True)
    return list(result.records)


def latest_storage_id(instance: dg.DagsterInstance) -> int:
    """The newest storage id among the events the rules read (0 for an empty instance)."""
    newest = 0
    for event_type in RUN_EVENTS:
        result = instance.fetch_run_status_changes(event_type, limit=1, ascending=False)
        newest = max([newest] + [r.storage_id for r in result.records])
    for event_type in OTHER_EVENTS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            records = instance.get_event_records(dg.EventRecordsFilter(event_type=event_type), limit=1)
        newest = max([newest] + [r.storage_id for r in records])
    return newest


def next_page(instance: dg.DagsterInstance, after: int, limit: int = PAGE) -> tuple[list, int, bool]:
    """Events after `after` in storage order, the new high-water mark, and whether more remain.

    Each type is read up to `limit`; where one type filled its page, the merged list stops
    at that page's last storage id, so no event of another type is skipped."""
    pages = ([_run_records(instance, t, after, limit) for t in RUN_EVENTS]
             + [_event_records(instance, t, after, limit) for t in OTHER_EVENTS])
    full = [page[-1].storage_id for page in pages if len(page) >= limit]
    cut = min(full) if full else None
    merged = sorted((r for page in pages for r in page if cut is None or r.storage_id <= cut),
                    key=lambda r: r.storage_id)
    mark = cut if cut is not None else max([after] + [r.storage_id for r in merged])
    return merged, mark, cut is not None


def _runs_by_id(instance: dg.DagsterInstance, records: list) -> dict:
    """The run records of these events' runs, in one query."""
    run_ids = sorted({r.event_log_entry.run_id for r in records if r.event_log_entry.run_id})
    if not run_ids:
        return {}
    return {rec.dagster_run.run_id: rec for rec in instance.get_run_records(dg.RunsFilter(run_ids=run_ids))}


@dataclass
class Pass:
    """What one evaluation applies events with: thresholds, switched-off rules, caches."""

    instance: dg.DagsterInstance
    outcome: Evaluation
    disabled: set[str]
    slow_factor: float
    slow_min_seconds: float
    rejected_share: float
    medians: dict = field(default_factory=dict)


def _thresholds() -> tuple[float, float, float]:
    try:
        return settings.alert_slow_run_factor(), settings.alert_slow_run_min_seconds(), settings.alert_rejected_share()
    except ValueError as error:
        log.warning("%s; using the defaults (3x, 60 s, 5 %%)", error)
        return 3.0, 60.0, 0.05


def _duration(record) -> float | None:
    if record is None or record.start_time is None or record.end_time is None:
        return None
    return max(0.0, record.end_time - record.start_time)


def _typical_duration(p: Pass, pipeline_id: str, record) -> float | None:
    """Median duration of the pipeline's successful runs before this one (None: too few)."""
    key = (pipeline_id, record.dagster_run.run_id)
    if key not in p.medians:
        run = record.dagster_run
        filters = (dg.RunsFilter(tags={rules.PIPELINE_TAG: pipeline_id}, statuses=[dg.DagsterRunStatus.SUCCESS],
                                 created_before=record.create_timestamp)
                   if run.tags.get(rules.PIPELINE_TAG) else
                   dg.RunsFilter(job_name=run.job_name, statuses=[dg.DagsterRunStatus.SUCCESS],
                                 created_before=record.create_timestamp))
        durations = [d for d in (_duration(r) for r in p.instance.get_run_records(filters, limit=rules.SLOW_HISTORY))
                     if d is not None]
        p.medians[key] = rules.median(durations) if len(durations) >= rules.SLOW_MIN_HISTORY else None
    return p.medians[key]


def _slow_run(conn: sa.Connection, p: Pass, pipeline_id: str, record, timestamp: float,
              resolved: list[int]) -> None:
    duration = _duration(record)
    if duration is None or rules.SLOW_RUN in p.disabled:
        return
    typical = _typical_duration(p, pipeline_id, record)
    if typical is None:
        return
    if duration >= p.slow_min_seconds and duration > p.slow_factor * max(typical, 1e-3):
        _open(conn, p, rules.slow_run(pipeline_id, record.dagster_run.run_id, duration, typical, p.slow_factor,
                                      timestamp))
    else:
        resolved += store.resolve_matching(conn, (rules.SLOW_RUN,), pipeline_id, None, None, "success")


def _materialized(conn: sa.Connection, p: Pass, pipeline_id: str, entry, resolved: list[int]) -> None:
    materialization = entry.asset_materialization
    counts = rules.rejected_share(materialization.metadata) if materialization else None
    if counts is None:
        return
    rejected, read = counts
    if rejected > p.rejected_share * read:
        if rules.ROWS_REJECTED not in p.disabled:
            _open(conn, p, rules.rows_rejected(pipeline_id, entry.run_id, materialization.asset_key, rejected, read,
                                               p.rejected_share, entry.timestamp))
    else:
        resolved += store.resolve_matching(conn, (rules.ROWS_REJECTED,), pipeline_id,
                                           "/".join(materialization.asset_key.path), None, "load under threshold")


def _open(conn: sa.Connection, p: Pass, finding) -> None:
    alert_id, new = store.open_or_bump(conn, finding)
    (p.outcome.raised if new else p.outcome.bumped).append(alert_id)


def _apply(conn: sa.Connection, p: Pass, record, run_record, resolved: list[int]) -> None:
    entry = record.event_log_entry
    event = entry.dagster_event
    pipeline_id = rules.pipeline_of(run_record.dagster_run if run_record else None, entry.job_name)
    if event.event_type == dg.DagsterEventType.RUN_FAILURE:
        if rules.RUN_FAILURE not in p.disabled:
            reason = secrets.redact(event.message or "")[:300] or None
            _open(conn, p, rules.run_failed(pipeline_id, entry.run_id, entry.job_name or "?", entry.timestamp, reason))
    elif event.event_type == dg.DagsterEventType.RUN_SUCCESS:
        store.record_success(conn, pipeline_id, rules.when(entry.timestamp), entry.run_id)
        resolved += store.resolve_matching(conn, (rules.RUN_FAILURE, rules.OVERDUE), pipeline_id, None, None,
                                           "success")
        _slow_run(conn, p, pipeline_id, run_record, entry.timestamp, resolved)
    elif event.event_type == MATERIALIZATION:
        _materialized(conn, p, pipeline_id, entry, resolved)
    else:
        evaluation = entry.asset_check_evaluation
        if evaluation is None:
            return
        if evaluation.passed:
            resolved += store.resolve_matching(conn, rules.CHECK_RULES, pipeline_id,
                                               "/".join(evaluation.asset_key.path), evaluation.check_name,
                                               "check passed")
            return
        finding = rules.check_failed(pipeline_id, entry.run_id, evaluation, entry.timestamp)
        if finding.rule not in p.disabled:
            _open(conn, p, finding)


def _overdue(conn: sa.Connection, p: Pass, specs: dict, now: datetime) -> None:
    """Active, scheduled pipelines (cron or event) past their overdue window without success."""
    from cleanops.scheduling.policy import overdue_window

    watched = {pid: spec for pid, spec in specs.items()
               if spec.status == "active" and spec.schedule.enabled and spec.schedule.type != "manual"}
    if not watched or rules.OVERDUE in p.disabled:
        return
    state = store.success_state(conn, sorted(watched), now)
    for pipeline_id, spec in watched.items():
        first_seen, last_success = state[pipeline_id]
        since = last_success or first_seen
        window = overdue_window(spec)
        if now - since > window:
            _open(conn, p, rules.overdue(pipeline_id, since, window.total_seconds(), last_success is not None, now))


def _resources(conn: sa.Connection, p: Pass, now: datetime, resolved: list[int]) -> None:
    """Disk of CLEANOPS_HOME and memory against their thresholds (two cheap psutil calls)."""
    import psutil

    from cleanops.monitoring.system import disk_usage_percent

    try:
        limits = {rules.DISK_USAGE: settings.alert_disk_percent(), rules.MEMORY_USAGE: settings.alert_memory_percent()}
    except ValueError as error:
        log.warning("%s; resource alerts use 90 %% disk, 95 %% memory", error)
        limits = {rules.DISK_USAGE: 90.0, rules.MEMORY_USAGE: 95.0}
    readings = {rules.DISK_USAGE: ("disk of CLEANOPS_HOME", disk_usage_percent(settings.paths().home)),
                rules.MEMORY_USAGE: ("memory in use", psutil.virtual_memory().percent)}
    for rule, (what, percent) in readings.items():
        if percent is None or rule in p.disabled:
            continue
        if percent > limits[rule]:
            _open(conn, p, rules.resource(rule, what, percent, limits[rule], now))
        else:
            resolved += store.resolve_matching(conn, (rule,), rules.SYSTEM, None, None, "under threshold")


def _deliver(engine: sa.Engine, alert_id: int, event: str, routing: Routing, attempts: int,
             backoff: float) -> list[notify.Outcome]:
    alert = store.get(engine, alert_id)
    if event == "raised":
        recipients = list(routing.on_failure) + settings.notify_default_to()
        webhook = settings.notify_webhook_url()
        if webhook:
            recipients.append(webhook)
    else:
        recipients = list(routing.on_success)
    title, body = rules.text(alert, event)
    outcomes = []
    for target in notify.targets(recipients, routing.channels):
        result = notify.send(target, title, body, attempts, backoff)
        store.record_notification(engine, alert_id, event, target.channel, target.shown, result.sent,
                                  result.attempts, result.error)
        outcomes.append(result)
    return outcomes


def _parse_cursor(cursor: str | None) -> tuple[int | None, float]:
    """(storage id, when overdue was last checked) of a cursor; (None, 0) for none."""
    if not cursor:
        return None, 0.0
    try:
        state = json.loads(cursor)
        return int(state["storage_id"]), float(state.get("overdue_checked", 0.0))
    except (ValueError, KeyError, TypeError, AttributeError):
        log.warning("alert sensor cursor %r unreadable; starting at the newest event", cursor[:100])
        return None, 0.0


def _cursor(storage_id: int, overdue_checked: float) -> str:
    return json.dumps({"storage_id": storage_id, "overdue_checked": overdue_checked})


def evaluate(instance: dg.DagsterInstance, engine: sa.Engine, cursor: str | None,
             routing: Callable[[str], Routing] | None = None, max_pages: int = MAX_PAGES,
             pipelines: PipelinesFolder | None = None, now: datetime | None = None,
             overdue_every: float = OVERDUE_EVERY_SECONDS) -> Evaluation:
    """Apply the events after `cursor`, and every `overdue_every` seconds the overdue and
    resource rules (at `now`); returns the new cursor and what changed.

    Alerts are written page by page (each page one transaction) and messages sent after the
    page commits: a crash in between loses those messages rather than sending duplicates.
    An alert raised and resolved within one page sends both messages, in that order."""
    now = now or datetime.now(UTC)
    after, overdue_checked = _parse_cursor(cursor)
    if after is None:
        return Evaluation(cursor=_cursor(latest_storage_id(instance), now.timestamp()))
    pipelines = pipelines or PipelinesFolder()
    routing = routing or pipelines.routing
    attempts, backoff = notify.retry_settings()
    outcome = Evaluation(cursor=_cursor(after, overdue_checked))
    p = Pass(instance, outcome, settings.alert_disabled_rules(), *_thresholds())
    for _ in range(max_pages):  # a backlog beyond max_pages continues at the next tick
        records, after, more = next_page(instance, after)
        runs = _runs_by_id(instance, records)
        raised_before, resolved_now = len(outcome.raised), []
        with engine.begin() as conn:
            for record in records:
                _apply(conn, p, record, runs.get(record.event_log_entry.run_id), resolved_now)
            if not more and now.timestamp() - overdue_checked >= overdue_every:
                _overdue(conn, p, pipelines.specs(), now)
                _resources(conn, p, now, resolved_now)
                overdue_checked = now.timestamp()
        outcome.events += len(records)
        outcome.cursor = _cursor(after, overdue_checked)
        outcome.resolved += resolved_now
        for alert_id in outcome.raised[raised_before:]:
            alert = store.get(engine, alert_id)
            outcome.notifications += _deliver(engine, alert_id, "raised", routing(alert["pipeline_id"]),
                                              attempts, backoff)
        for alert_id in resolved_now:
            alert = store.get(engine, alert_id)
            outcome.notifications += _deliver(engine, alert_id, "resolved", routing(alert["pipeline_id"]),
                                              attempts, backoff)
        if not more:
            break
    return outcome
