"""A staged value is the source's value or the row is quarantined, through the real
Dagster asset into real PostgreSQL."""

import json

import pytest
import sqlalchemy as sa

from cleanops_tests.conftest import unique_id
from cleanops_tests.ingestion.helpers import codes, materialization_metadata, materialize_pipeline, table_names

pytestmark = pytest.mark.server_matrix


def _spec(name: str, kind: str, data_types: dict, **validation) -> dict:
    return {"pipeline_id": unique_id("exact"), "data_sources": [{"id": "src", "type": kind, "path": f"data/{name}"}],
            "transformations": [{"type": "validation", "config": {"data_types": data_types, **validation}}]}


def _write(folder, name: str, content: str):
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / name).write_text(content)


def _staged(engine, staging: str, *columns: str) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT _cleanops_row_number, {', '.join(columns)} FROM {staging}")).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def _quarantined(engine, quarantine: str) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT row_number, error_code, error_message FROM {quarantine}")).all()
    return {row[0]: (row[1], row[2]) for row in rows}


def test_malformed_date_quarantines_the_row_and_the_load_goes_on(pipelines_dir, make_pipeline, warehouse):
    _write(pipelines_dir, "dates.csv", "id,day,at\n1,2023-13-45,2024-01-01\n2,abcdefgh99xx,2024-01-01\n"
                                       "3,2024-02-29,2023-13-45T10:00\n4,2024-01-31,xxxxxxxx31\n5,2024-03-01,2024-03-01\n")
    loaded = make_pipeline(_spec("dates.csv", "csv", {"id": "integer", "day": "date", "at": "datetime"}))
    result = materialize_pipeline(loaded)
    staging, quarantine = table_names(loaded)
    assert sorted(_staged(warehouse, staging, "id")) == [5]
    assert codes(warehouse, quarantine) == {"INVALID_DATA_TYPE": 4}
    assert materialization_metadata(result, loaded)["records_extracted"] == 5


def test_json_decimal_is_staged_exactly(pipelines_dir, make_pipeline, warehouse):
    records = ('[{"id": 1, "amount": 12345678901234567890.123456789, "note": 0.1000000000000000055511151231257827,'
               ' "price": 0.1, "nested": {"v": 1.10}},'
               ' {"id": 2, "amount": 1, "note": 1, "price": 0.1000000000000000055511151231257827}]')
    _write(pipelines_dir, "prices.json", records)
    loaded = make_pipeline(_spec("prices.json", "json", {"id": "integer", "amount": "decimal", "price": "float"}))
    materialize_pipeline(loaded)
    staging, quarantine = table_names(loaded)
    with warehouse.connect() as conn:
        row = conn.execute(sa.text(f"SELECT amount::text, note, price, nested, pg_typeof(amount)::text AS type"
                                   f" FROM {staging}")).mappings().one()
    assert dict(row) == {"amount": "12345678901234567890.123456789", "note": "0.1000000000000000055511151231257827",
                         "price": 0.1, "nested": '{"v": 1.10}', "type": "numeric"}
    (code, message), = _quarantined(warehouse, quarantine).values()
    assert code == "INVALID_DATA_TYPE" and "declare the column decimal" in message


def test_csv_numbers_beyond_their_type_are_quarantined_not_changed(pipelines_dir, make_pipeline, warehouse):
    _write(pipelines_dir, "n.csv", "id,x\n9223372036854775807,1e308\n9223372036854775808,1\n3,1e309\n4,1e-400\n"
                                   "-9223372036854775808,5e-324\n")
    loaded = make_pipeline(_spec("n.csv", "csv", {"id": "integer", "x": "float"}))
    materialize_pipeline(loaded)
    staging, quarantine = table_names(loaded)
    assert _staged(warehouse, staging, "id", "x") == {1: (9223372036854775807, 1e308),
                                                      5: (-9223372036854775808, 5e-324)}
    assert {n: code for n, (code, _) in _quarantined(warehouse, quarantine).items()} == {
        2: "INVALID_DATA_TYPE", 3: "INVALID_DATA_TYPE", 4: "INVALID_DATA_TYPE"}


def test_jsonl_row_numbers_follow_the_lines_in_staging_and_quarantine(pipelines_dir, make_pipeline, warehouse):
    lines = ['{"id": 1}', "", '{"id": 3}', "[5]", "{broken", '{"": 1}', '{"id": "x7"}', "", '{"id": 9}']
    _write(pipelines_dir, "rows.jsonl", "\n".join(lines) + "\n")
    loaded = make_pipeline(_spec("rows.jsonl", "jsonl", {"id": "integer"}))
    result = materialize_pipeline(loaded)
    staging, quarantine = table_names(loaded)
    assert _staged(warehouse, staging, "id") == {1: (1,), 3: (3,), 9: (9,)}
    assert {n: code for n, (code, _) in _quarantined(warehouse, quarantine).items()} == {
        4: "MALFORMED_ROW", 5: "MALFORMED_ROW", 6: "MALFORMED_ROW", 7: "INVALID_DATA_TYPE"}
    assert materialization_metadata(result, loaded)["records_extracted"] == 7


def test_years_and_offsets_postgresql_refuses_are_quarantined(pipelines_dir, make_pipeline, warehouse):
    rows = [{"d": "0000-01-01", "t": "2024-01-01"}, {"d": "2024-01-01", "t": "2024-01-01T10:00:00+20:00"},
            {"d": "0001-01-01", "t": "2024-01-01T10:00:00-15:59"}]
    _write(pipelines_dir, "t.json", json.dumps(rows))
    loaded = make_pipeline(_spec("t.json", "json", {"d": "date", "t": "datetime"}))
    materialize_pipeline(loaded)
    staging, quarantine = table_names(loaded)
    with warehouse.connect() as conn:
        staged = conn.execute(sa.text(f"SELECT _cleanops_row_number, d::text, (t AT TIME ZONE 'UTC')::text FROM {staging}")).all()
    assert [tuple(r) for r in staged] == [(3, "0001-01-01", "2024-01-02 01:59:00")]
    assert sorted(_quarantined(warehouse, quarantine)) == [1, 2]
