-- Data-quality history: one row per rule per asset per run (GE suites and dbt tests).
CREATE TABLE cleanops.quality_results (
    result_id           bigserial PRIMARY KEY,
    pipeline_id         text NOT NULL,
    asset_key           text NOT NULL,
    rule_name           text NOT NULL,
    rule_type           text NOT NULL,
    engine              text NOT NULL DEFAULT 'great_expectations',  -- or 'dbt'
    severity            text NOT NULL CHECK (severity IN ('error', 'warn')),
    success             boolean NOT NULL,
    observed_value      jsonb,
    element_count       bigint,
    unexpected_count    bigint,
    unexpected_percent  double precision,
    sample_failing_keys jsonb NOT NULL DEFAULT '[]'::jsonb,
    expectation         jsonb NOT NULL DEFAULT '{}'::jsonb,
    error               text,
    run_id              text NOT NULL,
    checked_at          timestamptz NOT NULL DEFAULT now()
);
-- A retried step replaces its own result instead of adding a second one for the run.
CREATE UNIQUE INDEX quality_results_run_rule ON cleanops.quality_results (run_id, asset_key, rule_name);
CREATE INDEX quality_results_pipeline_rule_time
    ON cleanops.quality_results (pipeline_id, asset_key, rule_name, checked_at DESC);
