"""A token from `${VAR}` appears nowhere a failed run leaves text.

An API source sends `api_key=${SEC_API_TOKEN}` as a query parameter: once to a refused
port (urllib3 logs its retries and raises with the URL, query string included) and once to
a server that answers 401 quoting the key back. Each run goes through the real CLI in a
subprocess; then the five places are searched for the token: the CLI's output, `cleanops
runs show --json`, `cleanops.execution_log.errors`, Dagster's `event_logs` and the compute
log files. The second server records what it received, which shows the token was sent.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa

from cleanops_tests.transform.helpers import prepared_workspace, rows

CLI = str(Path(sys.executable).parent / "cleanops")
TOKEN_CORE = uuid.uuid4().hex
TOKEN = f"Sk{TOKEN_CORE}/+= &"  # characters a query string percent-encodes; the core survives any spelling


class KeyEchoingApi(BaseHTTPRequestHandler):
    """Rejects every key with a 401 that quotes it back, as some APIs do."""

    received: list[str] = []

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        key = parse_qs(urlparse(self.path).query).get("api_key", [""])[0]
        type(self).received.append(key)
        body = json.dumps({"error": f"invalid api_key {key}"}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def api_spec(pipeline_id: str, url: str) -> dict:
    return {"pipeline_id": pipeline_id,
            "data_sources": [{"id": "secured", "type": "api", "url": url, "params": {"api_key": "${SEC_API_TOKEN}"},
                              "max_retries": 1, "timeout_seconds": 5}]}


@pytest.fixture(scope="module")
def echoing_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), KeyEchoingApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, echoing_server, cleanops_database):
    suffix = uuid.uuid4().hex[:6]
    refused_url = f"http://127.0.0.1:{closed_port()}/secured"
    specs = {"refused": api_spec(f"leak-refused-{suffix}", refused_url),
             "echoed": api_spec(f"leak-echoed-{suffix}", f"{echoing_server}/secured")}
    with prepared_workspace(tmp_path_factory.mktemp("leaks"), list(specs.values()), SEC_API_TOKEN=TOKEN):
        yield {case: spec["pipeline_id"] for case, spec in specs.items()} | {"refused_url": refused_url}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=dict(os.environ), timeout=600)


def instance_events(run_id: str) -> list[str]:
    engine = sa.create_engine(os.environ["CLEANOPS_INSTANCE_URL"], poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(sa.text("SELECT event FROM event_logs WHERE run_id = :r"), {"r": run_id}))
    finally:
        engine.dispose()


def compute_log_texts(run_id: str) -> dict[str, str]:
    """Every compute log file of the instance (those of this run are checked to exist)."""
    folder = Path(os.environ["CLEANOPS_COMPUTE_LOGS"])
    return {str(path): path.read_text(errors="replace") for path in folder.rglob("*") if path.is_file()}


def run_and_collect(pipeline_id: str, warehouse) -> dict[str, str]:
    """Run the pipeline through the CLI and gather the text of the five places."""
    run = cli("pipelines", "run", pipeline_id)
    assert run.returncode == 1, run.stdout + run.stderr
    shown = cli("runs", "show", "latest", "--pipeline", pipeline_id, "--json")
    assert shown.returncode == 0, shown.stderr
    run_id = json.loads(shown.stdout)["execution_id"]
    logged = rows(warehouse, "SELECT errors::text AS errors FROM cleanops.execution_log WHERE run_id = :r", r=run_id)
    events = instance_events(run_id)
    compute_logs = compute_log_texts(run_id)
    assert logged and events and any(run_id in path for path in compute_logs), "nothing to search"
    assert any("STEP_FAILURE" in event for event in events)
    return {"cli output": run.stdout + run.stderr, "runs show --json": shown.stdout,
            "cleanops.execution_log.errors": "\n".join(r["errors"] for r in logged),
            "event_logs": "\n".join(events), "compute logs": "\n".join(compute_logs.values())}


def assert_no_token(places: dict[str, str]) -> None:
    leaks = [place for place, text in places.items() if TOKEN_CORE in text]
    assert not leaks, f"the token leaked into: {', '.join(leaks)}"


def test_a_refused_request_leaks_no_token(workspace, warehouse):
    places = run_and_collect(workspace["refused"], warehouse)
    assert f"request to {workspace['refused_url']} failed" in places["cleanops.execution_log.errors"]
    assert "refused" in places["cleanops.execution_log.errors"].lower()
    assert_no_token(places)


def test_a_token_quoted_back_by_the_server_is_masked_everywhere(workspace, warehouse):
    KeyEchoingApi.received.clear()
    places = run_and_collect(workspace["echoed"], warehouse)
    assert KeyEchoingApi.received == [TOKEN]  # the token was sent: it could have leaked
    assert "HTTP 401" in places["cleanops.execution_log.errors"]
    assert "invalid api_key ***" in places["cleanops.execution_log.errors"]
    assert_no_token(places)
