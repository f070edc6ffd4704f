-- Alerts raised by the monitoring sensor, and every notification sent about them.

-- One row per alert. While an alert is not resolved its dedup_key (rule|pipeline|asset|check)
-- is unique, so a recurrence updates the row (occurrences, last_seen) instead of adding one
-- and no second message goes out; once resolved, the same condition opens a new alert.
CREATE TABLE cleanops.alerts (
    alert_id      bigserial PRIMARY KEY,
    rule          text NOT NULL,
    pipeline_id   text NOT NULL,
    asset_key     text,                 -- slash-joined asset key path, for check alerts
    check_name    text,
    severity      text NOT NULL CHECK (severity IN ('error', 'warning')),
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'acknowledged', 'resolved')),
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    occurrences   integer NOT NULL DEFAULT 1,
    message       text NOT NULL,
    link          text,                 -- Dagster UI path: /runs/<run_id> or /assets/<key path>
    run_id        text,                 -- the latest run that raised it
    dedup_key     text NOT NULL,
    acknowledged_at timestamptz,
    resolved_at   timestamptz,
    resolved_by   text                  -- 'success', 'check passed', 'manual'
);
CREATE UNIQUE INDEX alerts_open_dedup ON cleanops.alerts (dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_status_seen ON cleanops.alerts (status, last_seen DESC);

-- One row per message per target. `target` is masked (no password, no token); `error` is
-- redacted before it is stored.
CREATE TABLE cleanops.notifications (
    notification_id bigserial PRIMARY KEY,
    alert_id      bigint NOT NULL REFERENCES cleanops.alerts (alert_id) ON DELETE CASCADE,
    event         text NOT NULL CHECK (event IN ('raised', 'resolved')),
    channel       text NOT NULL,
    target        text NOT NULL,
    status        text NOT NULL CHECK (status IN ('sent', 'failed')),
    attempts      integer NOT NULL,
    error         text,
    sent_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_alert ON cleanops.notifications (alert_id);

-- The overdue rule's memory: when the sensor first saw each pipeline and its last success
-- (from the RUN_SUCCESS events it reads), so checking every pipeline is one query.
CREATE TABLE cleanops.alert_pipeline_state (
    pipeline_id          text PRIMARY KEY,
    first_seen           timestamptz NOT NULL DEFAULT now(),
    last_success_at      timestamptz,
    last_success_run_id  text
);
