-- The audit dimension of staged rows: one row per (batch, origin) written to a staging
-- table. Staged rows carry only `_cleanops_load_id` and `_cleanops_row_number`; the batch
-- id (the Dagster run id), pipeline, source, origin and load time are here, once per load
-- instead of once per row (per-row text columns cost the server a third of a load).
CREATE TABLE cleanops.staged_loads (
    load_id        bigserial PRIMARY KEY,
    staging_table  text NOT NULL,
    batch_id       text NOT NULL,
    pipeline_id    text NOT NULL,
    source_id      text NOT NULL,
    origin         text,
    loaded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staged_loads_table_batch ON cleanops.staged_loads (staging_table, batch_id);

-- Staging tables written by earlier versions carried those columns on every row:
-- move them into staged_loads and give the rows their load id.
-- (No format() placeholders here: the migration runner's driver would read them as its own.)
DO $$
DECLARE
    t record;
    tbl text;
    lit text;
BEGIN
    FOR t IN
        SELECT c.table_name FROM information_schema.columns c
        WHERE c.table_schema = 'staging' AND c.column_name = '_cleanops_batch_id'
          AND NOT EXISTS (SELECT 1 FROM information_schema.columns l
                          WHERE l.table_schema = 'staging' AND l.table_name = c.table_name
                            AND l.column_name = '_cleanops_load_id')
    LOOP
        tbl := 'staging.' || quote_ident(t.table_name);
        lit := quote_literal(t.table_name);
        EXECUTE 'INSERT INTO cleanops.staged_loads (staging_table, batch_id, pipeline_id, source_id, origin, loaded_at) '
             || 'SELECT ' || lit || ', _cleanops_batch_id, coalesce((SELECT e.pipeline_id FROM cleanops.execution_log e '
             || 'WHERE e.run_id = _cleanops_batch_id LIMIT 1), ''''), _cleanops_source, _cleanops_origin, '
             || 'min(_cleanops_loaded_at) FROM ' || tbl
             || ' GROUP BY _cleanops_batch_id, _cleanops_source, _cleanops_origin';
        EXECUTE 'ALTER TABLE ' || tbl || ' ADD COLUMN _cleanops_load_id bigint';
        EXECUTE 'UPDATE ' || tbl || ' s SET _cleanops_load_id = l.load_id FROM cleanops.staged_loads l '
             || 'WHERE l.staging_table = ' || lit || ' AND l.batch_id = s._cleanops_batch_id '
             || 'AND l.source_id = s._cleanops_source AND l.origin IS NOT DISTINCT FROM s._cleanops_origin';
        EXECUTE 'ALTER TABLE ' || tbl || ' ALTER COLUMN _cleanops_load_id SET NOT NULL, '
             || 'DROP COLUMN _cleanops_batch_id, DROP COLUMN _cleanops_source, '
             || 'DROP COLUMN _cleanops_origin, DROP COLUMN _cleanops_loaded_at CASCADE';
    END LOOP;
END $$;
