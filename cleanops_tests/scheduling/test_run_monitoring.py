"""A run whose worker dies mid-load is marked failed by run monitoring, then retried.

The run is launched the way `cleanops pipelines run` and the UI launch runs: through a code
server of the launching process (here the test's own workspace), which starts the run
worker. Both are killed with SIGKILL while the worker waits on its source, as when the
process group of `cleanops pipelines run` is killed or the machine goes down: nobody is
left to report the run, so only the daemon's run monitoring can. `run_retries` then
retries it through the daemon, and the second attempt loads the row.
"""

from __future__ import annotations

import os
import signal

import dagster as dg
import psutil
import pytest
import sqlalchemy as sa

from cleanops.pipelines.loader import load_pipelines
from cleanops.scheduling import graphql
from cleanops.scheduling.worker_monitor import _worker_start
from cleanops.sources.sql import connection_variable
from cleanops_tests.scheduling.conftest import MONITORED_CONNECTION, MONITORED_FUNCTION, PIPELINE_IDS

pytestmark = pytest.mark.timeout(300)

SLEEP_SECONDS = 600  # far longer than the test waits: the first attempt never ends on its own


@pytest.fixture
def slow_once_source(warehouse, monkeypatch) -> None:
    """Sleeps on its first call (the killed attempt), answers one row on the next (the retry).

    `client_connection_check_interval` ends the sleeping backend once its client is gone,
    so the killed attempt's transaction does not outlive it."""
    with warehouse.begin() as conn:
        conn.execute(sa.text(f"CREATE SEQUENCE {MONITORED_FUNCTION}_calls"))
        conn.execute(sa.text(f"""
            CREATE FUNCTION {MONITORED_FUNCTION}() RETURNS TABLE(id int, note text) LANGUAGE plpgsql
            SET client_connection_check_interval = '1s' AS $$
            BEGIN
              IF nextval('{MONITORED_FUNCTION}_calls') = 1 THEN
                PERFORM pg_sleep({SLEEP_SECONDS});
              END IF;
              RETURN QUERY SELECT 1, 'loaded by the retry'::text;
            END $$"""))
    monkeypatch.setenv(connection_variable(MONITORED_CONNECTION), warehouse.url.render_as_string(hide_password=False))


def _launch(instance: dg.DagsterInstance, pipeline_id: str) -> str:
    """Create a run and launch it at once through a code server (no queue), as `cleanops pipelines run` does."""
    pipeline = load_pipelines().by_id(pipeline_id)
    return graphql.launch_run(pipeline.spec.slug, {}, None, graphql.launch_home())


def _source_query_running(warehouse) -> bool:
    """The source's function is sleeping (its text is hidden behind the cursor's FETCH)."""
    with warehouse.connect() as conn:
        return bool(conn.scalar(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database()")))


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_a_run_whose_worker_was_killed_mid_load_is_marked_failed_and_retried(
        on_daemon, slow_once_source, warehouse):
    instance, pipeline_id = on_daemon.instance, PIPELINE_IDS["monitored"]
    run_id = _launch(instance, pipeline_id)
    on_daemon.wait_for(lambda: instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED, 90,
                       "the run to start")
    on_daemon.wait_for(lambda: _source_query_running(warehouse), 60, "the run to be reading its source")
    worker_pid, _ = _worker_start(instance, run_id)
    worker = psutil.Process(worker_pid)
    code_server = worker.parent()
    assert code_server is not None and code_server.pid != os.getpid()
    _kill(code_server.pid)  # first, so that it cannot report its child's death
    _kill(worker_pid)
    psutil.wait_procs([worker], timeout=10)

    on_daemon.wait_for(lambda: instance.get_run_by_id(run_id).is_finished, 90, "run monitoring to end the run")
    failed = instance.get_run_by_id(run_id)
    assert failed.status == dg.DagsterRunStatus.FAILURE
    failure = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    # reported by run monitoring: nobody else was left to report it
    assert f"run worker process {worker_pid} is gone" in failure[-1].event_log_entry.dagster_event.message

    def retry():
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/parent_run_id": run_id}))
        return runs[0] if runs and runs[0].is_finished else None

    retried = on_daemon.wait_for(retry, 120, "the retry of the failed run to finish")
    assert retried.status == dg.DagsterRunStatus.SUCCESS
    slug = load_pipelines().by_id(pipeline_id).spec.slug
    with warehouse.connect() as conn:
        staged = conn.execute(sa.text(f"SELECT id, note FROM staging.{slug}__rows")).all()
    assert staged == [("1", "loaded by the retry")]  # staged as text; the killed attempt left nothing
