-- Core tables: ingestion state, quarantine and the execution log.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS quarantine;
CREATE SCHEMA IF NOT EXISTS cleanops_archive;

-- High-water marks for incremental SQL loads: one row per pipeline source.
CREATE TABLE cleanops.source_watermarks (
    pipeline_id   text NOT NULL,
    source_id     text NOT NULL,
    watermark     timestamptz NOT NULL,
    run_id        text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline_id, source_id)
);

-- Files already loaded, by content hash, so the same file never loads twice.
CREATE TABLE cleanops.loaded_files (
    pipeline_id   text NOT NULL,
    source_id     text NOT NULL,
    sha256        text NOT NULL,
    path          text NOT NULL,
    size_bytes    bigint NOT NULL,
    run_id        text NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline_id, source_id, sha256)
);

-- The execution log of each run (the seed's execution_log.json), one row per source load.
CREATE TABLE cleanops.execution_log (
    run_id             text NOT NULL,
    pipeline_id        text NOT NULL,
    source_id          text NOT NULL,
    asset_key          text NOT NULL,
    status             text NOT NULL,
    started_at         timestamptz NOT NULL,
    completed_at       timestamptz,
    metrics            jsonb NOT NULL DEFAULT '{}'::jsonb,
    steps              jsonb NOT NULL DEFAULT '[]'::jsonb,
    errors             jsonb NOT NULL DEFAULT '[]'::jsonb,
    PRIMARY KEY (run_id, source_id)
);
CREATE INDEX execution_log_pipeline_started ON cleanops.execution_log (pipeline_id, started_at DESC);
