"""`cleanops.alerts` and `cleanops.notifications`: the alert lifecycle in SQL.

One open (active or acknowledged) alert per dedup key, enforced by a partial unique index:
`open_or_bump` inserts a new alert or, when one is open, bumps its occurrences and
last_seen and says it was not new, which is what keeps a recurring failure from sending a
second message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

OPEN = ("active", "acknowledged")
COLUMNS = ("alert_id, rule, pipeline_id, asset_key, check_name, severity, status, first_seen, last_seen, "
           "occurrences, message, link, run_id, acknowledged_at, resolved_at, resolved_by")


@dataclass(frozen=True)
class Finding:
    """One observation of a rule's condition (a failed run, a failed check)."""

    rule: str
    pipeline_id: str
    severity: str
    message: str
    link: str
    seen_at: datetime
    run_id: str | None = None
    asset_key: str | None = None
    check_name: str | None = None

    @property
    def dedup_key(self) -> str:
        return "|".join((self.rule, self.pipeline_id, self.asset_key or "", self.check_name or ""))


def open_or_bump(conn: sa.Connection, finding: Finding) -> tuple[int, bool]:
    """(alert_id, True) for a new alert; (alert_id, False) when an open one was bumped."""
    bumped = conn.execute(sa.text(
        "UPDATE cleanops.alerts SET occurrences = occurrences + 1, last_seen = GREATEST(last_seen, :seen), "
        "run_id = :run_id, link = :link WHERE dedup_key = :key AND status <> 'resolved' RETURNING alert_id"),
        {"seen": finding.seen_at, "run_id": finding.run_id, "link": finding.link, "key": finding.dedup_key}).first()
    if bumped:
        return bumped.alert_id, False
    alert_id = conn.scalar(sa.text(
        "INSERT INTO cleanops.alerts (rule, pipeline_id, asset_key, check_name, severity, first_seen, last_seen, "
        "message, link, run_id, dedup_key) VALUES (:rule, :pipeline, :asset, :check, :severity, :seen, :seen, "
        ":message, :link, :run_id, :key) RETURNING alert_id"),
        {"rule": finding.rule, "pipeline": finding.pipeline_id, "asset": finding.asset_key,
         "check": finding.check_name, "severity": finding.severity, "seen": finding.seen_at,
         "message": finding.message, "link": finding.link, "run_id": finding.run_id, "key": finding.dedup_key})
    return alert_id, True


def resolve_matching(conn: sa.Connection, rules: tuple[str, ...], pipeline_id: str, asset_key: str | None,
                     check_name: str | None, how: str) -> list[int]:
    """Resolve the open alerts of these rules for one pipeline (and asset/check); their ids."""
    rows = conn.execute(sa.text(
        "UPDATE cleanops.alerts SET status = 'resolved', resolved_at = now(), resolved_by = :how "
        "WHERE status <> 'resolved' AND rule = ANY(:rules) AND pipeline_id = :pipeline "
        "AND asset_key IS NOT DISTINCT FROM :asset AND check_name IS NOT DISTINCT FROM :check "
        "RETURNING alert_id"),
        {"how": how, "rules": list(rules), "pipeline": pipeline_id, "asset": asset_key, "check": check_name})
    return [row.alert_id for row in rows]


def get(engine: sa.Engine, alert_id: int) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(sa.text(f"SELECT {COLUMNS} FROM cleanops.alerts WHERE alert_id = :id"),
                           {"id": alert_id}).mappings().first()
    return dict(row) if row else None


def listing(engine: sa.Engine, statuses: tuple[str, ...] = OPEN, pipeline_id: str | None = None,
            limit: int = 200) -> list[dict]:
    """Alerts in these statuses, most recently seen first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            f"SELECT {COLUMNS} FROM cleanops.alerts WHERE status = ANY(:statuses) "
            "AND (CAST(:pipeline AS text) IS NULL OR pipeline_id = :pipeline) "
            "ORDER BY last_seen DESC, alert_id DESC LIMIT :limit"),
            {"statuses": list(statuses), "pipeline": pipeline_id, "limit": limit})
        return [dict(row) for row in rows.mappings()]


def set_status(engine: sa.Engine, alert_id: int, status: str) -> dict | None:
    """Acknowledge or resolve (manually) an alert; None when there is no such alert.

    Acknowledging a resolved alert leaves it resolved; resolving is final."""
    stamp = "acknowledged_at = now()" if status == "acknowledged" else "resolved_at = now(), resolved_by = 'manual'"
    with engine.begin() as conn:
        conn.execute(sa.text(
            f"UPDATE cleanops.alerts SET status = :status, {stamp} WHERE alert_id = :id AND status <> 'resolved'"),
            {"status": status, "id": alert_id})
    return get(engine, alert_id)


def record_notification(engine: sa.Engine, alert_id: int, event: str, channel: str, target: str, sent: bool,
                        attempts: int, error: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO cleanops.notifications (alert_id, event, channel, target, status, attempts, error) "
            "VALUES (:alert, :event, :channel, :target, :status, :attempts, :error)"),
            {"alert": alert_id, "event": event, "channel": channel, "target": target,
             "status": "sent" if sent else "failed", "attempts": attempts, "error": error})


def notifications(engine: sa.Engine, alert_id: int) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT notification_id, alert_id, event, channel, target, status, attempts, error, sent_at "
            "FROM cleanops.notifications WHERE alert_id = :id ORDER BY notification_id"), {"id": alert_id})
        return [dict(row) for row in rows.mappings()]


def record_success(conn: sa.Connection, pipeline_id: str, at: datetime, run_id: str) -> None:
    conn.execute(sa.text(
        "INSERT INTO cleanops.alert_pipeline_state (pipeline_id, last_success_at, last_success_run_id) "
        "VALUES (:pipeline, :at, :run_id) ON CONFLICT (pipeline_id) DO UPDATE SET "
        "last_success_at = GREATEST(cleanops.alert_pipeline_state.last_success_at, EXCLUDED.last_success_at), "
        "last_success_run_id = CASE WHEN cleanops.alert_pipeline_state.last_success_at IS NULL "
        "OR EXCLUDED.last_success_at >= cleanops.alert_pipeline_state.last_success_at "
        "THEN EXCLUDED.last_success_run_id ELSE cleanops.alert_pipeline_state.last_success_run_id END"),
        {"pipeline": pipeline_id, "at": at, "run_id": run_id})


def success_state(conn: sa.Connection, pipeline_ids: list[str], now: datetime) -> dict[str, tuple]:
    """(first_seen, last_success_at) per pipeline; pipelines seen for the first time start now."""
    conn.execute(sa.text(
        "INSERT INTO cleanops.alert_pipeline_state (pipeline_id, first_seen) "
        "SELECT id, :now FROM unnest(CAST(:ids AS text[])) AS id ON CONFLICT (pipeline_id) DO NOTHING"),
        {"ids": pipeline_ids, "now": now})
    rows = conn.execute(sa.text(
        "SELECT pipeline_id, first_seen, last_success_at FROM cleanops.alert_pipeline_state "
        "WHERE pipeline_id = ANY(:ids)"), {"ids": pipeline_ids})
    return {row.pipeline_id: (row.first_seen, row.last_success_at) for row in rows}
