"""HTTP API sources against a local stand-in server: paging, secrets, retries."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from cleanops_tests.conftest import unique_id
from cleanops_tests.ingestion.helpers import codes, count, materialize_pipeline, table_names

USERS = [{"id": i, "email": f"u{i}@example.com" if i % 10 else "broken", "profile": {"plan": "pro"}}
         for i in range(1, 26)]


class StandInApi(BaseHTTPRequestHandler):
    """Pages of users; demands a bearer token; fails the first call to /flaky with a 503."""

    calls: list[str] = []
    flaky_failures = 0

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        type(self).calls.append(self.path)
        if self.headers.get("Authorization") != "Bearer s3cret":
            return self._send(401, {"error": "unauthorised"})
        if url.path == "/flaky" and type(self).flaky_failures < 2:
            type(self).flaky_failures += 1
            return self._send(503, {"error": "try later"})
        if url.path in ("/users", "/flaky"):
            page, size = int(query.get("page", 1)), int(query.get("per_page", 10))
            return self._send(200, {"data": {"items": USERS[(page - 1) * size: page * size]}})
        if url.path == "/cursor":
            start = int(query.get("cursor", 0))
            items = USERS[start:start + 7]
            return self._send(200, {"items": items, "next": str(start + 7) if start + 7 < len(USERS) else None})
        return self._send(404, {"error": "no such path"})

    def _send(self, status, body):
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def api_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _spec(url, records_path, pagination):
    return {"pipeline_id": unique_id("api"),
            "data_sources": [{"id": "users", "type": "api", "url": url, "records_path": records_path,
                              "headers": {"Authorization": "Bearer ${USERS_API_TOKEN}"},
                              "pagination": pagination, "timeout_seconds": 5}],
            "transformations": [{"type": "validation", "config": {
                "required_fields": ["id"], "data_types": {"id": "integer", "email": "email"}}}]}


def test_page_pagination_with_secret_header(api_server, make_pipeline, warehouse, monkeypatch):
    monkeypatch.setenv("USERS_API_TOKEN", "s3cret")
    loaded = make_pipeline(_spec(f"{api_server}/users", "data.items", {"type": "page", "page_size": 10}))
    materialize_pipeline(loaded)
    staging, quarantine = table_names(loaded)
    assert count(warehouse, staging) == 23
    assert codes(warehouse, quarantine) == {"INVALID_EMAIL_FORMAT": 2}
    # That the token appears in no output: cleanops_tests/ingestion/test_secrets_never_leak.py


def test_cursor_pagination(api_server, make_pipeline, warehouse, monkeypatch):
    monkeypatch.setenv("USERS_API_TOKEN", "s3cret")
    loaded = make_pipeline(_spec(f"{api_server}/cursor", "items",
                                 {"type": "cursor", "cursor_param": "cursor", "cursor_path": "next"}))
    materialize_pipeline(loaded)
    staging, quarantine = table_names(loaded)
    assert count(warehouse, staging) + count(warehouse, quarantine) == 25


def test_transient_errors_are_retried(api_server, make_pipeline, warehouse, monkeypatch):
    monkeypatch.setenv("USERS_API_TOKEN", "s3cret")
    StandInApi.flaky_failures = 0
    loaded = make_pipeline(_spec(f"{api_server}/flaky", "data.items", {"type": "page", "page_size": 10}))
    materialize_pipeline(loaded)
    assert StandInApi.flaky_failures == 2
    assert count(warehouse, table_names(loaded)[0]) == 23


def test_missing_secret_and_http_errors_are_clear(api_server, make_pipeline, monkeypatch):
    from cleanops.ingestion.load import load_source
    from cleanops.sources import SourceError
    from cleanops.sources.errors import TransientSourceError

    monkeypatch.delenv("USERS_API_TOKEN", raising=False)
    loaded = make_pipeline(_spec(f"{api_server}/users", "data.items", {"type": "none"}))
    with pytest.raises(SourceError, match="USERS_API_TOKEN is not set"):
        load_source(loaded, loaded.spec.data_sources[0], unique_id("run"))
    monkeypatch.setenv("USERS_API_TOKEN", unique_id("wrong"))
    with pytest.raises(SourceError, match="HTTP 401") as error:
        load_source(loaded, loaded.spec.data_sources[0], unique_id("run"))
    assert not isinstance(error.value, TransientSourceError)
