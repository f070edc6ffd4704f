"""Step retries with exponential backoff, against a source that really fails twice.

The source is a PostgreSQL function that raises until a sequence reaches 3 (sequences are
not rolled back, so each attempt counts), read through the product's own SQL source.
"""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from cleanops_tests.conftest import unique_id
from cleanops.scheduling.launch import run_pipeline

INITIAL_DELAY = 0.4


@pytest.fixture
def flaky_function(warehouse) -> str:
    name = unique_id("flaky").replace("-", "_")
    with warehouse.begin() as conn:
        conn.execute(sa.text(f"CREATE SEQUENCE {name}_attempts"))
        conn.execute(sa.text(f"""
            CREATE FUNCTION {name}() RETURNS TABLE(id int, note text) LANGUAGE plpgsql AS $$
            BEGIN
              IF nextval('{name}_attempts') < 3 THEN
                RAISE EXCEPTION 'flaky source: attempt %', currval('{name}_attempts');
              END IF;
              RETURN QUERY SELECT 1, 'third time lucky'::text;
            END $$"""))
    return name


def test_a_source_failing_twice_succeeds_on_the_third_try_with_growing_delays(
        make_pipeline, flaky_function, warehouse, dagster_instance, monkeypatch):
    monkeypatch.setenv("CLEANOPS_CONN_FLAKY_DB", warehouse.url.render_as_string(hide_password=False))
    pipeline = make_pipeline({
        "pipeline_id": unique_id("flaky"),
        "data_sources": [{"id": "rows", "type": "postgresql", "connection": "flaky-db",
                          "query": f"SELECT * FROM {flaky_function}()"}],
        "retry_policy": {"max_retries": 3, "backoff_strategy": "exponential", "initial_delay": INITIAL_DELAY},
    })

    outcome = run_pipeline(pipeline.spec.pipeline_id, instance=dagster_instance)

    assert outcome.success
    events = dagster_instance.get_records_for_run(outcome.run_id, of_type={
        dg.DagsterEventType.STEP_UP_FOR_RETRY, dg.DagsterEventType.STEP_RESTARTED}).records
    kinds = [r.event_log_entry.dagster_event.event_type for r in events]
    assert kinds == [dg.DagsterEventType.STEP_UP_FOR_RETRY, dg.DagsterEventType.STEP_RESTARTED] * 2
    times = [r.event_log_entry.timestamp for r in events]
    first_wait, second_wait = times[1] - times[0], times[3] - times[2]
    assert first_wait >= INITIAL_DELAY
    assert second_wait >= 2 * INITIAL_DELAY
    assert second_wait > first_wait
    with warehouse.connect() as conn:
        attempts = conn.scalar(sa.text(f"SELECT last_value FROM {flaky_function}_attempts"))
        staged = conn.scalar(sa.text(f"SELECT count(*) FROM staging.{pipeline.spec.slug}__rows"))
    assert attempts == 3 and staged == 1
