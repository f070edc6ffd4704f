"""JSON, JSON Lines and API records: one column mapping per source, row numbers from
the source, numbers spelt as the source spelt them."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from cleanops.pipelines.schema import ApiSource, FileSource
from cleanops.sources.api import read_api
from cleanops.sources.base import ReadContext, SourceChunk
from cleanops.sources.json_files import read_json, read_jsonl


def _read(path: Path, kind: str, chunk_rows: int = 100_000, **options) -> list[SourceChunk]:
    source = FileSource.model_validate({"id": "s", "type": kind, "path": str(path), **options})
    reader = read_json if kind == "json" else read_jsonl
    return list(reader(path, source, ReadContext("p", path.parent, chunk_rows=chunk_rows)))


def _rows(chunks: list[SourceChunk]) -> dict[int, dict]:
    """Row number → the row's values, over all chunks."""
    rows = {}
    for chunk in chunks:
        for number, row in zip(chunk.batch_row_numbers().to_pylist(), chunk.batch.to_pylist()):
            assert number not in rows
            rows[number] = row
    return rows


def _problems(chunks: list[SourceChunk]) -> dict[int, tuple[str, str]]:
    return {p.row_number: (p.error_code, p.message) for c in chunks for p in c.problems}


def test_camel_case_keys_map_the_same_on_every_chunk(tmp_path):
    path = tmp_path / "users.jsonl"
    path.write_text("".join(json.dumps({"userId": i, "Email Address": f"u{i}@x.io"}) + "\n" for i in range(1, 8)))
    chunks = _read(path, "jsonl", chunk_rows=3)
    assert len(chunks) == 3
    assert all(c.batch.schema.names == ["userid", "email_address"] for c in chunks)
    assert _rows(chunks)[7] == {"userid": "7", "email_address": "u7@x.io"}


def test_camel_case_keys_map_the_same_on_every_chunk_of_a_json_document(tmp_path):
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"data": [{"userId": i} for i in range(5)]}))
    chunks = _read(path, "json", chunk_rows=2, records_path="data")
    assert [c.batch.schema.names for c in chunks] == [["userid"]] * 3
    assert sorted(_rows(chunks)) == [1, 2, 3, 4, 5]


def test_keys_that_normalise_alike_are_one_column_and_a_new_key_adds_one(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"userId": 1}\n{"userid": 2}\n{"userId": 3, "Plan": "pro"}\n')
    chunks = _read(path, "jsonl", chunk_rows=1)
    assert _rows(chunks) == {1: {"userid": "1"}, 2: {"userid": "2"}, 3: {"userid": "3", "plan": "pro"}}


def test_two_keys_for_one_column_quarantine_that_record(tmp_path):
    path = tmp_path / "clash.jsonl"
    path.write_text('{"userId": 1}\n{"userId": 2, "userid": 3}\n{"userId": 4}\n')
    chunks = _read(path, "jsonl")
    assert sorted(_rows(chunks)) == [1, 3]
    code, message = _problems(chunks)[2]
    assert code == "MALFORMED_ROW" and "'userId' and 'userid' both map to column 'userid'" in message


def test_empty_key_quarantines_the_record_not_the_file(tmp_path):
    path = tmp_path / "keys.jsonl"
    path.write_text('{"a": 1}\n{"": 2, "a": 3}\n{"!!": 4}\n{"a": 5}\n')
    chunks = _read(path, "jsonl")
    assert _rows(chunks) == {1: {"a": "1"}, 4: {"a": "5"}}
    problems = _problems(chunks)
    assert problems[2][0] == problems[3][0] == "MALFORMED_ROW"
    assert "key '' cannot be a column" in problems[2][1] and "'!!'" in problems[3][1]


def test_jsonl_row_numbers_are_line_numbers(tmp_path):
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"n": 1}\n\n{"n": 3}\n[1, 2]\n{broken\n   \n{"n": 7}\n{"n": "\xff"}\n{"n": 9}')
    chunks = _read(path, "jsonl", chunk_rows=2)
    assert {number: row["n"] for number, row in _rows(chunks).items()} == {1: "1", 3: "3", 7: "7", 9: "9"}
    problems = _problems(chunks)
    assert {number: code for number, (code, _) in problems.items()} == {
        4: "MALFORMED_ROW", 5: "MALFORMED_ROW", 8: "INVALID_ENCODING"}
    assert "a list, not a JSON object" in problems[4][1] and "line 5" in problems[5][1]


def test_json_element_index_is_the_row_number(tmp_path):
    path = tmp_path / "items.json"
    path.write_text(json.dumps([{"n": 1}, 2, None, {"n": 4}, "x", {"n": 6}]))
    chunks = _read(path, "json", chunk_rows=4)
    assert {number: row["n"] for number, row in _rows(chunks).items()} == {1: "1", 4: "4", 6: "6"}
    assert sorted(_problems(chunks)) == [2, 3, 5]


def test_json_numbers_keep_their_source_spelling(tmp_path):
    path = tmp_path / "numbers.jsonl"
    path.write_text('{"big": 12345678901234567890.123456789, "tiny": 0.1000000000000000055511151231257827,'
                    ' "e": 1E+400, "int": 123456789012345678901234567890, "neg0": -0,'
                    ' "nested": {"x": [1.10, 2e-5, {"y": 9007199254740993}], "s": "1.0"}}\n')
    row = _rows(_read(path, "jsonl"))[1]
    assert row == {"big": "12345678901234567890.123456789", "tiny": "0.1000000000000000055511151231257827",
                   "e": "1E+400", "int": "123456789012345678901234567890", "neg0": "-0",
                   "nested": '{"x": [1.10, 2e-5, {"y": 9007199254740993}], "s": "1.0"}'}
    assert json.loads(row["nested"]) == {"x": [1.1, 2e-5, {"y": 9007199254740993}], "s": "1.0"}


def test_lone_surrogate_is_an_invalid_encoding_of_that_row(tmp_path):
    path = tmp_path / "surrogate.jsonl"
    path.write_text('{"a": "ok"}\n{"a": "\\ud800"}\n')
    chunks = _read(path, "jsonl")
    (bad,) = chunks[0].bad_rows.values()
    assert (bad.row_number, bad.error_code, bad.field) == (2, "INVALID_ENCODING", "a")


def test_deeply_nested_line_is_one_malformed_row(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"a": 1}\n' + "[" * 100_000 + "]" * 100_000 + '\n{"a": 3}\n')
    chunks = _read(path, "jsonl")
    assert sorted(_rows(chunks)) == [1, 3] and _problems(chunks)[2][0] == "MALFORMED_ROW"


class CamelCaseApi(BaseHTTPRequestHandler):
    """Three pages of two records with camelCase keys; page 2 holds a non-object."""

    PAGES = {1: [{"userId": 1, "firstName": "a"}, {"userId": 2, "firstName": "b"}],
             2: [{"userId": 3, "firstName": "c"}, 42],
             3: [{"userId": 5, "lastName": "e", "amount": 0.30000000000000004}]}

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        page = int(parse_qs(urlparse(self.path).query).get("page", ["1"])[0])
        payload = json.dumps({"items": self.PAGES.get(page, [])}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def camel_case_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), CamelCaseApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/users"
    server.shutdown()


def test_camel_case_keys_map_the_same_on_every_api_page(camel_case_api, tmp_path):
    source = ApiSource.model_validate({"id": "users", "type": "api", "url": camel_case_api, "records_path": "items",
                                       "pagination": {"type": "page", "page_size": 2}})
    chunks = list(read_api(source, ReadContext("p", tmp_path)))
    assert len(chunks) == 3
    assert _rows(chunks) == {1: {"userid": "1", "firstname": "a"}, 2: {"userid": "2", "firstname": "b"},
                             3: {"userid": "3", "firstname": "c"},
                             5: {"userid": "5", "firstname": None, "lastname": "e", "amount": "0.30000000000000004"}}
    assert _problems(chunks)[4][0] == "MALFORMED_ROW"
