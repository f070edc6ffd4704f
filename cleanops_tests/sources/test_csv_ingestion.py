"""CSV files users hand CleanOps, through the real Dagster asset into real PostgreSQL:
every row is staged or quarantined, none is merged into another."""

from __future__ import annotations

import gzip
import hashlib

import pytest
import sqlalchemy as sa

from cleanops_tests.conftest import unique_id
from cleanops_tests.ingestion.helpers import codes, count, materialization_metadata, materialize_pipeline, table_names

pytestmark = pytest.mark.server_matrix


def _spec(path: str, **source_options) -> dict:
    return {"pipeline_id": unique_id("csv"),
            "data_sources": [{"id": "src", "type": "csv", "path": path, **source_options}],
            "transformations": [{"type": "validation",
                                 "config": {"required_fields": ["id"], "data_types": {"id": "integer"}}}]}


def _write(pipelines_dir, name: str, content: bytes):
    folder = pipelines_dir / "data"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(content)
    return folder / name


def _staged(warehouse, loaded) -> list[tuple]:
    staging, _ = table_names(loaded)
    with warehouse.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(f"SELECT id, name FROM {staging} ORDER BY id"))]


def test_stray_quote_quarantines_its_line_and_loads_the_rest(pipelines_dir, make_pipeline, warehouse):
    _write(pipelines_dir, "q.csv", b'id,name\n1,"open quote\n2,b\n3,c\n')
    loaded = make_pipeline(_spec("data/q.csv"))
    metadata = materialization_metadata(materialize_pipeline(loaded), loaded)
    _, quarantine = table_names(loaded)
    assert _staged(warehouse, loaded) == [(2, "b"), (3, "c")]
    assert codes(warehouse, quarantine) == {"MALFORMED_ROW": 1}
    with warehouse.connect() as conn:
        row = conn.execute(sa.text(f"SELECT row_number, error_message FROM {quarantine}")).one()
    assert row.row_number == 2 and "unterminated quote opened on line 2" in row.error_message
    assert metadata["records_extracted"] == 3 == metadata["records_loaded"] + metadata["records_rejected"]


def test_gzip_csv_loads_and_its_stored_bytes_are_fingerprinted(pipelines_dir, make_pipeline, warehouse):
    stored = gzip.compress(b'id,name\n1,alpha\n2,"multi\nline"\n')
    path = _write(pipelines_dir, "users.csv.gz", stored)
    loaded = make_pipeline(_spec("data/*.csv.gz"))
    materialize_pipeline(loaded)
    assert _staged(warehouse, loaded) == [(1, "alpha"), (2, "multi\nline")]
    with warehouse.connect() as conn:
        ledger = dict(conn.execute(sa.text("SELECT path, sha256 FROM cleanops.loaded_files WHERE pipeline_id = :p"),
                                   {"p": loaded.spec.pipeline_id}).all())
    assert ledger == {str(path): hashlib.sha256(stored).hexdigest()}
    materialize_pipeline(loaded)  # the same file again is skipped
    assert count(warehouse, table_names(loaded)[0]) == 2


def test_utf16_file_with_a_bom_loads_with_its_real_column_names(pipelines_dir, make_pipeline, warehouse):
    _write(pipelines_dir, "u16.csv", "id,name\n1,café\n2,日本\n".encode("utf-16"))
    loaded = make_pipeline(_spec("data/u16.csv"))
    metadata = materialization_metadata(materialize_pipeline(loaded), loaded)
    assert _staged(warehouse, loaded) == [(1, "café"), (2, "日本")]
    assert metadata["records_rejected"] == 0


def test_cp1252_file_with_a_declared_encoding_loads(pipelines_dir, make_pipeline, warehouse):
    _write(pipelines_dir, "legacy.csv", "id,name\n1,Müller € 5\n".encode("cp1252"))
    loaded = make_pipeline(_spec("data/legacy.csv", encoding="cp1252"))
    materialize_pipeline(loaded)
    assert _staged(warehouse, loaded) == [(1, "Müller € 5")]
