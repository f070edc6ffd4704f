"""A file is staged once: concurrent loads of one source, files changing while read, retries.

Every test calls the real load against the session's PostgreSQL. Concurrency is made
deterministic by holding the source's lock from the test until both loads wait for it.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from cleanops.ingestion import load as load_module
from cleanops.ingestion.load import load_source
from cleanops.ingestion.validate import Validator
from cleanops.sources import csv_files
from cleanops.sources.base import SourceError
from cleanops_tests.conftest import unique_id
from cleanops_tests.ingestion.helpers import count, holds_no_rows, table_names

pytestmark = pytest.mark.server_matrix


def _spec(path: str = "data/*.csv") -> dict:
    return {"pipeline_id": unique_id("integrity"),
            "data_sources": [{"id": "orders", "type": "csv", "path": path}],
            "transformations": [{"type": "validation", "config": {
                "required_fields": ["id"], "data_types": {"id": "integer", "amount": "float"}, "unique": ["id"]}}]}


def _csv(rows: range) -> str:
    return "id,amount\n" + "".join(f"{i},{i}.5\n" for i in rows)


def _write(folder, name: str, text: str):
    data = folder / "data"
    data.mkdir(exist_ok=True)
    path = data / name
    path.write_text(text)
    return path


def _ledger(engine: sa.Engine, pipeline_id: str) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT path, size_bytes, run_id FROM cleanops.loaded_files "
                                    "WHERE pipeline_id = :p ORDER BY path"), {"p": pipeline_id}).all()


def _waiting_for_advisory_locks(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))


def _run_both_once_the_lock_is_released(engine, loaded, source_table: str, loads) -> list:
    """Hold the source's lock, start both loads, wait until both wait for it, then release it."""
    with engine.connect() as holder:
        holder.execute(sa.text("SELECT pg_advisory_lock(hashtext(:n))"), {"n": f"staging.{source_table}"})
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(load) for load in loads]
            deadline = time.monotonic() + 30
            while _waiting_for_advisory_locks(engine) < 2:
                assert time.monotonic() < deadline, "the two loads never both waited for the source's lock"
                assert not any(f.done() for f in futures), [f.exception() for f in futures if f.done()]
                time.sleep(0.05)
            holder.execute(sa.text("SELECT pg_advisory_unlock(hashtext(:n))"), {"n": f"staging.{source_table}"})
            return [f.result(timeout=120) for f in futures]


def test_two_concurrent_loads_stage_a_file_exactly_once(pipelines_dir, make_pipeline, warehouse):
    _write(pipelines_dir, "orders.csv", _csv(range(1, 20_001)))
    loaded = make_pipeline(_spec())
    staging, _ = table_names(loaded)
    table = staging.split(".")[1].strip('"')
    source = loaded.spec.data_sources[0]
    reports = _run_both_once_the_lock_is_released(
        warehouse, loaded, table,
        [lambda run=run: load_source(loaded, source, run) for run in (unique_id("run-a"), unique_id("run-b"))])
    assert count(warehouse, staging) == 20_000
    assert sorted(r.counts.records_staged for r in reports) == [0, 20_000]
    second = next(r for r in reports if r.counts.records_staged == 0)
    assert [entry["skipped"] for entry in second.files] == [True]
    assert "skipped 1 file(s) already loaded" in second.summary() and "orders.csv" in second.summary()
    assert all(r.table_rows == 20_000 for r in reports)
    assert len(_ledger(warehouse, loaded.spec.pipeline_id)) == 1


def test_a_load_waiting_for_another_says_so(pipelines_dir, make_pipeline, warehouse):
    _write(pipelines_dir, "orders.csv", _csv(range(1, 11)))
    loaded = make_pipeline(_spec())
    table = table_names(loaded)[0].split(".")[1].strip('"')
    messages: list[str] = []

    class Log:
        info = messages.append

    reports = _run_both_once_the_lock_is_released(
        warehouse, loaded, table,
        [lambda run=run: load_source(loaded, loaded.spec.data_sources[0], run, log=Log())
         for run in (unique_id("run-a"), unique_id("run-b"))])
    assert sum(r.counts.records_staged for r in reports) == 10
    assert sum("another load of this source is running" in m for m in messages) == 2


def test_concurrent_sql_loads_do_not_both_read_past_the_watermark(pipelines_dir, make_pipeline, warehouse,
                                                                 tmp_path, monkeypatch):
    import sqlite3

    database = tmp_path / "source.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE orders (id integer, updated_at text)")
        db.executemany("INSERT INTO orders VALUES (?, '2020-01-01 00:00:00')", [(i,) for i in range(1, 101)])
    monkeypatch.setenv("CLEANOPS_CONN_INTEGRITY_SQLITE", f"sqlite:///{database}")
    spec = _spec()
    spec["data_sources"] = [{"id": "orders", "type": "sqlite", "connection": "integrity-sqlite",
                             "query": "SELECT id, updated_at FROM orders WHERE updated_at > ?",
                             "parameters": ["${last_run_timestamp}"]}]
    loaded = make_pipeline(spec)
    staging, _ = table_names(loaded)
    table = staging.split(".")[1].strip('"')
    reports = _run_both_once_the_lock_is_released(
        warehouse, loaded, table,
        [lambda run=run: load_source(loaded, loaded.spec.data_sources[0], run)
         for run in (unique_id("run-a"), unique_id("run-b"))])
    assert count(warehouse, staging) == 100
    assert sorted(r.counts.records_read for r in reports) == [0, 100]


def _append_during_the_read(monkeypatch, path, text: str) -> None:
    """The first validated chunk appends to the file: the reader is then half-way through it."""
    monkeypatch.setattr(csv_files, "CSV_PIECE_BYTES", 256)
    original = Validator.validate
    appended = threading.Event()

    def validate_then_append(self, chunk):
        if not appended.is_set():
            appended.set()
            with open(path, "a") as handle:
                handle.write(text)
        return original(self, chunk)

    monkeypatch.setattr(Validator, "validate", validate_then_append)


def test_a_file_appended_while_read_is_refused_and_nothing_recorded(pipelines_dir, make_pipeline, warehouse,
                                                                   monkeypatch):
    path = _write(pipelines_dir, "orders.csv", _csv(range(1, 201)))
    loaded = make_pipeline(_spec())
    staging, quarantine = table_names(loaded)
    source = loaded.spec.data_sources[0]
    _append_during_the_read(monkeypatch, path, "".join(f"{i},{i}.5\n" for i in range(201, 301)))
    with pytest.raises(SourceError, match=r"orders\.csv changed while it was being read \(size \d+ -> \d+ bytes"):
        load_source(loaded, source, unique_id("run"))
    assert holds_no_rows(warehouse, staging, quarantine)
    assert _ledger(warehouse, loaded.spec.pipeline_id) == []

    monkeypatch.undo()  # the file is complete now: the next load takes all of it, once
    assert load_source(loaded, source, unique_id("run")).counts.records_staged == 300
    assert load_source(loaded, source, unique_id("run")).counts.records_read == 0
    assert count(warehouse, staging) == 300
    assert _ledger(warehouse, loaded.spec.pipeline_id)[0][1] == path.stat().st_size


def test_a_file_replaced_while_read_is_refused(pipelines_dir, make_pipeline, warehouse, monkeypatch):
    path = _write(pipelines_dir, "orders.json", "[" + ",".join(f'{{"id": {i}}}' for i in range(1, 51)) + "]")
    spec = _spec("data/*.json")
    spec["data_sources"][0]["type"] = "json"
    loaded = make_pipeline(spec)
    original = Validator.validate

    def validate_then_replace(self, chunk):
        replacement = path.with_suffix(".tmp")
        replacement.write_text(path.read_text())  # same content and size, another inode
        replacement.replace(path)
        return original(self, chunk)

    monkeypatch.setattr(Validator, "validate", validate_then_replace)
    with pytest.raises(SourceError, match="replaced by another file"):
        load_source(loaded, loaded.spec.data_sources[0], unique_id("run"))
    assert _ledger(warehouse, loaded.spec.pipeline_id) == []


def test_a_retried_load_of_a_committed_run_keeps_the_files_it_had_staged(pipelines_dir, make_pipeline, warehouse):
    """A step retried after its load committed (e.g. moving files failed) stages its files again, not zero."""
    _write(pipelines_dir, "a.csv", _csv(range(1, 11)))
    loaded = make_pipeline(_spec())
    staging, _ = table_names(loaded)
    source, run_id = loaded.spec.data_sources[0], unique_id("run")
    load_source(loaded, source, run_id)
    _write(pipelines_dir, "b.csv", _csv(range(11, 16)))
    retry = load_source(loaded, source, run_id)
    assert retry.counts.records_staged == 15
    assert count(warehouse, staging) == 15
    assert [row[2] for row in _ledger(warehouse, loaded.spec.pipeline_id)] == [run_id, run_id]


def test_declared_columns_cover_every_rule_column():
    from cleanops.pipelines.schema import ValidationConfig

    config = ValidationConfig(required_fields=["id"], data_types={"amount": "float"}, patterns={"sku": "^A"},
                              ranges={"qty": {"min": 0}}, allowed_values={"cur": ["EUR"]}, unique=[["id", "line"]])
    assert load_module.declared_columns(config) == ["id", "amount", "sku", "qty", "cur", "line"]


def test_a_retried_sql_load_of_a_committed_run_reads_from_the_watermark_before_it(
        pipelines_dir, make_pipeline, warehouse, tmp_path, monkeypatch):
    import sqlite3

    database = tmp_path / "retry.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE orders (id integer, updated_at text)")
        db.executemany("INSERT INTO orders VALUES (?, '2020-01-01 00:00:00')", [(i,) for i in range(1, 21)])
    monkeypatch.setenv("CLEANOPS_CONN_RETRY_SQLITE", f"sqlite:///{database}")
    spec = _spec()
    spec["data_sources"] = [{"id": "orders", "type": "sqlite", "connection": "retry-sqlite",
                             "query": "SELECT id, updated_at FROM orders WHERE updated_at > ?",
                             "parameters": ["${last_run_timestamp}"]}]
    loaded = make_pipeline(spec)
    staging, _ = table_names(loaded)
    source, run_id = loaded.spec.data_sources[0], unique_id("run")
    load_source(loaded, source, run_id)
    assert load_source(loaded, source, run_id).counts.records_staged == 20  # the retry
    assert count(warehouse, staging) == 20
    assert load_source(loaded, source, unique_id("run")).counts.records_read == 0  # a later run: nothing new
