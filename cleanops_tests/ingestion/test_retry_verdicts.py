"""A pipeline's `retry_policy` retries what may pass and fails at once on what cannot.

Each case runs the source's asset with a real Dagster `RetryPolicy` (3 retries) on the
session's instance and counts the retries Dagster recorded.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pathlib import Path

import dagster as dg
import pytest
import yaml

from cleanops_tests.conftest import unique_id
from cleanops_tests.ingestion.helpers import materialize_pipeline

REPO = Path(__file__).resolve().parents[2]
RETRY_POLICY = {"max_retries": 3, "backoff_strategy": "fixed", "initial_delay": 0.5}


class StatusApi(BaseHTTPRequestHandler):
    """`/401`, `/503`, … answer with that status."""

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        body = json.dumps({"error": "no"}).encode()
        self.send_response(int(self.path.strip("/")))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def status_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StatusApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sql_source(connection: str, query: str = "SELECT 1 AS id") -> dict:
    return {"id": "rows", "type": "postgresql", "connection": connection, "query": query}


def api_source(url: str) -> dict:
    return {"id": "rows", "type": "api", "url": url, "max_retries": 0, "timeout_seconds": 5}


def run_with_retries(make_pipeline, dagster_instance, source: dict):
    """(retries Dagster recorded, the step's failure message, seconds the run took)."""
    loaded = make_pipeline({"pipeline_id": unique_id("retry"), "data_sources": [source],
                            "retry_policy": RETRY_POLICY})
    started = time.monotonic()
    result = materialize_pipeline(loaded, instance=dagster_instance, raise_on_error=False)
    seconds = time.monotonic() - started
    assert not result.success
    retries = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    return len(retries), failure.step_failure_data.user_failure_data.description, seconds


def set_connection(monkeypatch, name: str, url: str) -> str:
    monkeypatch.setenv("CLEANOPS_CONN_" + name.upper().replace("-", "_"), url)
    return name


def test_a_missing_connection_variable_fails_at_once(make_pipeline, dagster_instance):
    retries, message, seconds = run_with_retries(make_pipeline, dagster_instance, sql_source("never-configured"))
    assert retries == 0
    assert "permanent" in message and "CLEANOPS_CONN_NEVER_CONFIGURED" in message
    assert seconds < RETRY_POLICY["initial_delay"] * RETRY_POLICY["max_retries"] + 10


def test_the_shipped_hourly_example_without_its_connection_fails_at_once(make_pipeline, dagster_instance,
                                                                          monkeypatch):
    """Its own retry_policy (3 retries, exponential from 30 s) must not keep it running for minutes."""
    spec = yaml.safe_load((REPO / "pipelines" / "orders_hourly_sql.yaml").read_text())
    spec["pipeline_id"] = unique_id("orders-hourly")
    monkeypatch.delenv("CLEANOPS_CONN_SHOP_DB", raising=False)
    loaded = make_pipeline(spec)
    started = time.monotonic()
    result = materialize_pipeline(loaded, instance=dagster_instance, raise_on_error=False)
    assert not result.success and time.monotonic() - started < spec["retry_policy"]["initial_delay"]
    assert not [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "CLEANOPS_CONN_SHOP_DB" in failure.step_failure_data.user_failure_data.description


def test_a_missing_table_fails_at_once(make_pipeline, dagster_instance, warehouse, monkeypatch):
    name = set_connection(monkeypatch, "same-warehouse", warehouse.url.render_as_string(hide_password=False))
    retries, message, _ = run_with_retries(make_pipeline, dagster_instance,
                                           sql_source(name, "SELECT * FROM cleanops_no_such_table"))
    assert retries == 0 and "cleanops_no_such_table" in message and "does not exist" in message


def test_a_missing_database_fails_at_once(make_pipeline, dagster_instance, warehouse, monkeypatch):
    missing = warehouse.url.set(database="cleanops_no_such_database")
    name = set_connection(monkeypatch, "no-database", missing.render_as_string(hide_password=False))
    retries, message, _ = run_with_retries(make_pipeline, dagster_instance, sql_source(name))
    assert retries == 0 and "cleanops_no_such_database" in message


@pytest.mark.parametrize("status", [401, 403, 404])
def test_client_errors_fail_at_once(make_pipeline, dagster_instance, status_api, status):
    retries, message, _ = run_with_retries(make_pipeline, dagster_instance, api_source(f"{status_api}/{status}"))
    assert retries == 0 and f"HTTP {status}" in message


def test_a_refused_connection_is_retried(make_pipeline, dagster_instance, monkeypatch):
    name = set_connection(monkeypatch, "refusing", f"postgresql://someone:pw@127.0.0.1:{closed_port()}/db")
    retries, message, _ = run_with_retries(make_pipeline, dagster_instance, sql_source(name))
    assert retries == RETRY_POLICY["max_retries"]
    assert "transient" in message and "refused" in message.lower()


def test_a_server_error_is_retried(make_pipeline, dagster_instance, status_api):
    retries, message, _ = run_with_retries(make_pipeline, dagster_instance, api_source(f"{status_api}/503"))
    assert retries == RETRY_POLICY["max_retries"] and "too many 503 error responses" in message
