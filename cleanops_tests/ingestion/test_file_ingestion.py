"""File sources through the real Dagster asset into real PostgreSQL: nothing is lost."""


import pytest
import sqlalchemy as sa

from cleanops.sources.files import file_sha256

from cleanops_tests.conftest import unique_id
from cleanops_tests.ingestion.helpers import codes, count, materialization_metadata, materialize_pipeline, table_names

pytestmark = pytest.mark.server_matrix

HEADER = "user_id,email,created_at,country\n"


def _spec(path="data/*.csv", kind="csv", **validation):
    config = {"required_fields": ["user_id", "email"],
              "data_types": {"user_id": "integer", "email": "email", "created_at": "datetime"},
              **validation}
    return {"pipeline_id": unique_id("files"), "data_sources": [{"id": "users", "type": kind, "path": path}],
            "transformations": [{"type": "validation", "config": config}]}


def _write(folder, name, content: bytes | str):
    data = folder / "data"
    data.mkdir(exist_ok=True)
    path = data / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_faulty_csv_every_row_staged_or_quarantined(pipelines_dir, make_pipeline, warehouse):
    rows = [
        "1,a@example.com,2024-01-01 10:00:00,DE",
        "2,not-an-email,2024-01-01,FR",
        ",c@example.com,2024-01-01,FR",
        "x4,d@example.com,2024-01-01,FR",
        "5,e@example.com,2024-02-30,FR",
        "6,f@example.com,2024-01-01,FR,EXTRA",
        "7,\"quoted, with comma\"@example.com,2024-01-01,FR",
        "8,h@example.com,2024-01-01,ES",
        "8,dup@example.com,2024-01-01,ES",
    ]
    content = (HEADER + "\n".join(rows) + "\n").encode() + b"9,caf\xe9@example.com,2024-01-01,DE\n"
    _write(pipelines_dir, "users.csv", content)
    loaded = make_pipeline(_spec(unique=["user_id"]))
    result = materialize_pipeline(loaded)
    staging, quarantine = table_names(loaded)
    assert count(warehouse, staging) == 2  # rows 1 and the first 8
    assert codes(warehouse, quarantine) == {
        "INVALID_EMAIL_FORMAT": 2, "MISSING_REQUIRED_FIELD": 1, "INVALID_DATA_TYPE": 2,
        "MALFORMED_ROW": 1, "DUPLICATE_KEY": 1, "INVALID_ENCODING": 1}
    metadata = materialization_metadata(result, loaded)
    assert metadata["records_extracted"] == 10
    assert metadata["records_extracted"] == metadata["records_loaded"] + metadata["records_rejected"]
    assert metadata["rejected_by_error_code"]["DUPLICATE_KEY"] == 1


def test_typed_columns_and_lineage_columns(pipelines_dir, make_pipeline, warehouse):
    import sqlalchemy as sa

    _write(pipelines_dir, "u.csv", HEADER + " 1 ,a@example.com,2024-01-01T10:00:00Z,DE\n")
    loaded = make_pipeline(_spec())
    result = materialize_pipeline(loaded)
    staging, _ = table_names(loaded)
    with warehouse.connect() as conn:
        row = conn.execute(sa.text(f"SELECT * FROM {staging}")).mappings().one()
        load = conn.execute(sa.text("SELECT * FROM cleanops.staged_loads WHERE load_id = :id"),
                            {"id": row["_cleanops_load_id"]}).mappings().one()
    assert row["user_id"] == 1 and row["created_at"].year == 2024 and row["_cleanops_row_number"] == 1
    assert set(row) == {"user_id", "email", "created_at", "country", "_cleanops_load_id", "_cleanops_row_number"}
    assert load["batch_id"] == result.run_id and load["source_id"] == "users"
    assert load["pipeline_id"] == loaded.spec.pipeline_id and load["origin"].endswith("u.csv")
    assert load["staging_table"] == staging.split(".", 1)[1].strip('"') and load["loaded_at"] is not None


def test_same_file_twice_is_not_loaded_twice(pipelines_dir, make_pipeline, warehouse):
    _write(pipelines_dir, "a.csv", HEADER + "1,a@example.com,2024-01-01,DE\n")
    loaded = make_pipeline(_spec())
    materialize_pipeline(loaded)
    materialize_pipeline(loaded)
    staging, _ = table_names(loaded)
    assert count(warehouse, staging) == 1
    _write(pipelines_dir, "b.csv", HEADER + "2,b@example.com,2024-01-01,DE\n")  # same size, other content
    materialize_pipeline(loaded)
    assert count(warehouse, staging) == 2
    _write(pipelines_dir, "c.csv", HEADER + "1,a@example.com,2024-01-01,DE\n")  # a.csv again, renamed
    longer = _write(pipelines_dir, "d.csv", HEADER + "40,dd@example.com,2024-01-01,DE\n")  # a size not seen
    materialize_pipeline(loaded)
    assert count(warehouse, staging) == 3
    with warehouse.connect() as conn:
        ledger = dict(conn.execute(sa.text("SELECT path, sha256 FROM cleanops.loaded_files WHERE pipeline_id = :p"),
                                   {"p": loaded.spec.pipeline_id}).all())
    assert ledger[str(longer)] == file_sha256(longer)  # hashed while it was read
    assert str(longer).replace("d.csv", "c.csv") not in ledger
    materialize_pipeline(loaded, full_refresh=True)
    assert count(warehouse, staging) == 4  # a full refresh reads every file again and replaces what was staged


def test_failed_run_leaves_staging_as_it_was(pipelines_dir, make_pipeline, warehouse):
    _write(pipelines_dir, "1.csv", HEADER + "1,a@example.com,2024-01-01,DE\n")
    loaded = make_pipeline(_spec())
    materialize_pipeline(loaded)
    staging, quarantine = table_names(loaded)
    before = (count(warehouse, staging), count(warehouse, quarantine))
    _write(pipelines_dir, "2.csv", HEADER + "2,b@example.com,2024-01-01,DE\n3,bad,2024-01-01,DE\n")
    _write(pipelines_dir, "3.csv", b"")  # empty: the load fails after 2.csv was already copied
    result = materialize_pipeline(loaded, raise_on_error=False)
    assert not result.success
    assert (count(warehouse, staging), count(warehouse, quarantine)) == before


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
])
def test_empty_file_is_a_clear_error(pipelines_dir, make_pipeline, content, message):
    from cleanops.ingestion.load import load_source
    from cleanops.sources import SourceError

    _write(pipelines_dir, "empty.csv", content)
    loaded = make_pipeline(_spec())
    with pytest.raises(SourceError, match=message) as error:
        load_source(loaded, loaded.spec.data_sources[0], unique_id("run"))
    assert "empty.csv" in str(error.value)


def test_header_only_file_loads_zero_rows(pipelines_dir, make_pipeline, warehouse):
    _write(pipelines_dir, "h.csv", HEADER)
    loaded = make_pipeline(_spec())
    result = materialize_pipeline(loaded)
    assert materialization_metadata(result, loaded)["records_extracted"] == 0
    assert count(warehouse, table_names(loaded)[0]) == 0


def test_missing_file_names_the_path(pipelines_dir, make_pipeline):
    from cleanops.ingestion.load import load_source
    from cleanops.sources import SourceError

    loaded = make_pipeline(_spec(path="data/nowhere.csv"))
    with pytest.raises(SourceError, match="file not found: .*nowhere.csv"):
        load_source(loaded, loaded.spec.data_sources[0], unique_id("run"))


def test_retry_of_the_same_run_does_not_duplicate(pipelines_dir, make_pipeline, warehouse):
    from cleanops.ingestion.load import load_source

    _write(pipelines_dir, "r.csv", HEADER + "1,a@example.com,2024-01-01,DE\n2,bad,2024-01-01,DE\n")
    loaded = make_pipeline(_spec())
    run_id = unique_id("run")
    load_source(loaded, loaded.spec.data_sources[0], run_id)
    load_source(loaded, loaded.spec.data_sources[0], run_id, full_refresh=True)  # a step retry
    staging, quarantine = table_names(loaded)
    assert (count(warehouse, staging), count(warehouse, quarantine)) == (1, 1)


def test_jsonl_json_and_parquet_sources(pipelines_dir, make_pipeline, warehouse):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    _write(pipelines_dir, "u.jsonl", '{"user_id": 1, "email": "a@example.com"}\n{broken\n'
                                     '{"user_id": "x", "email": "b@example.com", "extra": {"k": 1}}\n')
    loaded = make_pipeline(_spec(path="data/*.jsonl", kind="jsonl"))
    materialize_pipeline(loaded)
    staging, quarantine = table_names(loaded)
    assert count(warehouse, staging) == 1
    assert codes(warehouse, quarantine) == {"MALFORMED_ROW": 1, "INVALID_DATA_TYPE": 1}

    _write(pipelines_dir, "u.json", json.dumps({"data": [{"user_id": 1, "email": "a@example.com"},
                                                         {"user_id": 2, "email": None}]}))
    spec = _spec(path="data/u.json", kind="json")
    spec["data_sources"][0]["records_path"] = "data"
    loaded = make_pipeline(spec)
    materialize_pipeline(loaded)
    staging, quarantine = table_names(loaded)
    assert (count(warehouse, staging), count(warehouse, quarantine)) == (1, 1)

    pq.write_table(pa.table({"user_id": [1, 2, 3], "email": ["a@example.com", "b@example.com", "nope"],
                             "active": [True, False, None]}), pipelines_dir / "data" / "u.parquet")
    loaded = make_pipeline(_spec(path="data/u.parquet", kind="parquet"))
    materialize_pipeline(loaded)
    staging, quarantine = table_names(loaded)
    assert (count(warehouse, staging), count(warehouse, quarantine)) == (2, 1)


def test_quarantined_rows_keep_tabs_backslashes_and_newlines(pipelines_dir, make_pipeline, warehouse):
    import sqlalchemy as sa

    awkward = 'back\\slash\ttab\r\nnew "line"'
    _write(pipelines_dir, "odd.csv", HEADER + f'1,"{awkward.replace(chr(34), chr(34) * 2)}",2024-01-01,DE\n'
                                              '2,b@example.com,2024-01-01,"é\\N"\n')
    loaded = make_pipeline(_spec())
    materialize_pipeline(loaded)
    staging, quarantine = table_names(loaded)
    with warehouse.connect() as conn:
        row = conn.execute(sa.text(f"SELECT raw_record, error_message, origin FROM {quarantine}")).mappings().one()
        staged = conn.execute(sa.text(f"SELECT country FROM {staging}")).scalar_one()
    assert row["raw_record"]["email"] == awkward
    assert row["error_message"] == f"email: {awkward!r} is not a valid email"
    assert row["origin"].endswith("odd.csv")
    assert staged == "é\\N"


def test_many_chunks_some_sent_as_text_all_staged_once(pipelines_dir, make_pipeline, warehouse, monkeypatch):
    """Small pieces make many chunks on one COPY stream; a chunk with `+25` (which Arrow
    would read differently from PostgreSQL) goes as text in between binary ones."""
    from cleanops.sources import csv_files

    monkeypatch.setattr(csv_files, "CSV_PIECE_BYTES", 120)
    rows = [f"{'+' if i == 25 else ''}{i},u{i}@example.com,2024-01-{1 + i % 28:02d}T10:00:00,DE" for i in range(1, 61)]
    rows[40] = "x41,bad@example.com,2024-01-01,DE"  # rejected: not an integer
    _write(pipelines_dir, "many.csv", HEADER + "\n".join(rows) + "\n")
    loaded = make_pipeline(_spec())
    result = materialize_pipeline(loaded)
    metadata = materialization_metadata(result, loaded)
    staging, _ = table_names(loaded)
    with warehouse.connect() as conn:
        staged = conn.execute(sa.text(f"SELECT user_id, created_at, _cleanops_row_number FROM {staging} "
                                      "ORDER BY _cleanops_row_number")).all()
    assert [r.user_id for r in staged] == [i for i in range(1, 61) if i != 41]
    assert [r._cleanops_row_number for r in staged] == [i for i in range(1, 61) if i != 41]
    assert all(r.created_at.day == 1 + r.user_id % 28 and r.created_at.hour == 10 for r in staged)
    assert metadata["records_extracted"] == 60 and metadata["records_rejected"] == 1
