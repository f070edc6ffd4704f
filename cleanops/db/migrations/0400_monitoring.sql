-- Monitoring: one row per metrics collection (the `cleanops_metrics` asset).

-- The three groups of `cleanops metrics --json` as they were at `collected_at`; jsonb so
-- that a figure added later needs no migration. `window_seconds` is the window the
-- pipeline and cleanup figures cover (24 h unless configured otherwise).
CREATE TABLE cleanops.metrics_history (
    metrics_id        bigserial PRIMARY KEY,
    collected_at      timestamptz NOT NULL,
    window_seconds    integer NOT NULL,
    system_metrics    jsonb NOT NULL,
    pipeline_metrics  jsonb NOT NULL,
    cleanup_metrics   jsonb NOT NULL,
    run_id            text          -- the Dagster run that collected it, if any
);
CREATE INDEX metrics_history_collected ON cleanops.metrics_history (collected_at DESC);
