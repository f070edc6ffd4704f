-- The watermark before the run that wrote the current one: a retry of that run (which
-- first removes the rows its earlier attempt staged) reads again from here, not from the
-- watermark its own earlier attempt set, which would skip those rows for good.
ALTER TABLE cleanops.source_watermarks ADD COLUMN IF NOT EXISTS previous_watermark timestamptz;
