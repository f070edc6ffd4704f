-- Cleanup and retention: policies, one row per cleanup, one audit row per action.

-- What each data type keeps and where it looks. Rows are seeded from the package's
-- retention_defaults.csv (cleanops/cleanup/policies.py) and edited at run time with
-- `cleanops cleanup policy set`; no deploy is needed to change a retention period.
CREATE TABLE cleanops.cleanup_policies (
    data_type        text PRIMARY KEY,
    retention_days   numeric NOT NULL CHECK (retention_days >= 0),
    enabled          boolean NOT NULL DEFAULT true,
    kind             text NOT NULL CHECK (kind IN ('runs', 'files', 'staged_batches', 'quarantine', 'archives',
                                                   'duplicates', 'event_logs')),
    purpose          text NOT NULL DEFAULT '',
    roots            jsonb NOT NULL DEFAULT '[]'::jsonb,   -- folders, may use {home} {logs} {temp} ...
    patterns         jsonb NOT NULL DEFAULT '[]'::jsonb,   -- globs relative to a root; never absolute or ..
    statuses         jsonb NOT NULL DEFAULT '[]'::jsonb,   -- Dagster run statuses (runs only)
    keep_last        integer NOT NULL DEFAULT 0 CHECK (keep_last >= 0),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    updated_by       text
);

-- One row per cleanup (dry run or not). A row left 'running' by a killed process is
-- marked 'interrupted' by the next cleanup, which holds the advisory lock.
CREATE TABLE cleanops.cleanup_runs (
    cleanup_id        text PRIMARY KEY,
    cleanup_type      text NOT NULL CHECK (cleanup_type IN ('automatic', 'manual', 'emergency')),
    dry_run           boolean NOT NULL,
    archive           boolean NOT NULL,
    status            text NOT NULL,  -- running | completed | completed_with_errors | failed | interrupted
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    started_by        text NOT NULL,
    host              text,
    pid               integer,
    archive_location  text,
    archive_expired_at timestamptz,
    summary           jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX cleanup_runs_started ON cleanops.cleanup_runs (started_at DESC);

-- One row per action on one object.
CREATE TABLE cleanops.cleanup_audit (
    audit_id          bigserial PRIMARY KEY,
    cleanup_id        text NOT NULL,
    cleanup_type      text NOT NULL,
    dry_run           boolean NOT NULL,
    data_type         text NOT NULL,
    object_kind       text NOT NULL,
    object            text NOT NULL,
    size_bytes        bigint NOT NULL DEFAULT 0,
    action            text NOT NULL,  -- would_delete | keep | deleted | skipped | failed | restored | interrupted ...
    reason            text,
    archive_location  text,
    checksum          text,
    status            text NOT NULL,  -- planned | ok | skipped | failed
    error             text,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz NOT NULL DEFAULT now(),
    started_by        text NOT NULL
);
CREATE INDEX cleanup_audit_cleanup ON cleanops.cleanup_audit (cleanup_id);
