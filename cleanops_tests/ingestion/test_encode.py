"""Binary COPY must store exactly what PostgreSQL's own parsing of the text would store.

Each case is loaded twice into the same typed table: once through `encode` (binary where
it can) and once as CSV text that PostgreSQL parses itself; the two must read back equal.
"""

from __future__ import annotations

import uuid

import pyarrow as pa
import pytest
from psycopg import sql

from cleanops.ingestion import encode as encoding

pytestmark = pytest.mark.server_matrix

TYPES = {
    "n": "bigint", "x": "double precision", "ok": "boolean", "d": "date",
    "ts": "timestamp with time zone", "plain": "timestamp without time zone", "s": "text", "i4": "integer",
}
CASES = {
    "uniform naive timestamps": {"ts": ["2024-03-01T10:00:00", "2024-03-01 23:59", "2024-02-29", None]},
    "uniform zoned timestamps": {"ts": ["2024-03-01T10:00:00Z", "2024-03-01T10:00:00+02:00", "2024-03-01T10:00:00-0530",
                                        "2024-03-01T10:00:00+02"]},
    "mixed zoned and naive (text fallback)": {"ts": ["2024-03-01T10:00:00", "2024-03-01T10:00:00+02:00"]},
    "nanoseconds (text fallback)": {"ts": ["2024-03-01T10:00:00.123456789", "2024-03-01T10:00:00.5"]},
    "offset into timestamp without zone": {"plain": ["2024-03-01T10:00:00+02:00", "2024-03-01T10:00:00"]},
    "integers": {"n": ["007", "-42", "123456789012345678", None], "i4": ["1", "-2147483648", "2147483647", None]},
    "plus sign (text fallback)": {"n": ["+5", "6"]},
    "floats": {"x": ["1.", ".5", "1e5", "-1.5E-3", "+2", None]},
    "booleans": {"ok": ["true", "FALSE", "t", "f", "Yes", "no", "y", "N", "1", "0", "on", "OFF", None]},
    "dates": {"d": ["2024-02-29", "1999-12-31", None]},
    "text": {"s": ["plain", "with, comma", 'with "quotes"', "new\nline", "", None, "ünïcödé"]},
}


def _table_of(columns: dict[str, list]) -> pa.Table:
    return pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})


def _load(pg, table: sql.Identifier, data: pa.Table, payload: encoding.Payload) -> None:
    names = sql.SQL(", ").join(sql.Identifier(n) for n in data.column_names)
    with pg.cursor() as cursor, cursor.copy(sql.SQL("COPY {t} ({c}) FROM STDIN WITH ({o})").format(
            t=table, c=names, o=sql.SQL(payload.copy_options))) as copy:
        copy.write(payload.header + bytes(payload.data) + payload.trailer)  # one COPY of this payload alone


@pytest.mark.parametrize("case", sorted(CASES))
def test_binary_and_text_copies_store_the_same_values(warehouse, case):
    data = _table_of(CASES[case])
    types = {name: TYPES[name] for name in data.column_names}
    schema = f"enc_{uuid.uuid4().hex[:8]}"
    raw = warehouse.raw_connection()
    try:
        pg = raw.driver_connection
        pg.execute("SET TimeZone = 'UTC'")
        pg.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        columns = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in types.items())
        stored = {}
        for way, payload in (("encode", encoding.encode(data, types)),
                             ("text", encoding.Payload("csv", encoding._csv(data)))):
            table = sql.Identifier(schema, way)
            pg.execute(sql.SQL("CREATE TABLE {} ({})").format(table, columns))
            _load(pg, table, data, payload)
            stored[way] = pg.execute(sql.SQL("SELECT * FROM {}").format(table)).fetchall()
        pg.commit()
        assert stored["encode"] == stored["text"]
        assert len(stored["encode"]) == data.num_rows
    finally:
        raw.driver_connection.rollback()
        raw.driver_connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        raw.driver_connection.commit()
        raw.close()


def test_typical_columns_go_binary_and_odd_ones_as_text():
    assert encoding.encode(_table_of(CASES["uniform naive timestamps"]), {"ts": TYPES["ts"]}).format == "binary"
    assert encoding.encode(_table_of(CASES["integers"]), {"n": "bigint", "i4": "integer"}).format == "binary"
    assert encoding.encode(_table_of(CASES["plus sign (text fallback)"]), {"n": "bigint"}).format == "csv"
    assert encoding.encode(_table_of(CASES["mixed zoned and naive (text fallback)"]), {"ts": TYPES["ts"]}).format == "csv"
    assert encoding.encode(_table_of({"v": ["1.5"]}), {"v": "numeric"}).format == "csv"  # a type it does not encode
