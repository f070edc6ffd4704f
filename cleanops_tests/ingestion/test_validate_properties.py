"""Property-based tests: hostile values for every declared type, and hostile JSON.

Properties: nothing raises; rows read = rows valid + rows rejected; every rejected row has
a known code, a message and its true row number; every value let through is one its
PostgreSQL type stores exactly (checked here in memory against Python's own parsing, and
in `test_staged_values_round_trip_properties` against what PostgreSQL actually holds).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
import uuid

import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from psycopg import sql

from cleanops.ingestion import encode as encoding
from cleanops.ingestion.validate import ERROR_CODES, POSTGRES_TYPES, Validator
from cleanops.pipelines.schema import FileSource, ValidationConfig
from cleanops.sources.base import ReadContext, SourceChunk
from cleanops.sources.json_files import read_json, read_jsonl

TYPES = ("integer", "float", "decimal", "boolean", "date", "datetime", "email", "string")
COLUMNS = {f"c_{kind}": kind for kind in TYPES}
BIGINT = (-(2 ** 63), 2 ** 63 - 1)

numberish = st.from_regex(r"\A[ ]?[+-]{0,2}[0-9]{0,25}(\.[0-9]{0,22})?([eE][+-]?[0-9]{0,5})?[ ]?\Z", fullmatch=True)
dateish = st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,10})?)?"
                        r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?\Z", fullmatch=True)
offsets = st.builds(lambda sign, h, m: f"{sign}{h:02d}:{m:02d}", st.sampled_from("+-"), st.integers(0, 23),
                    st.integers(0, 59))
hostile_values = st.one_of(
    st.none(),
    st.text(max_size=30),
    numberish,
    dateish,
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70).map(str),
    st.floats().map(repr),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.dates().map(dt.date.isoformat),
    st.builds(lambda moment, zone: moment.isoformat() + zone, st.datetimes(), st.one_of(st.just(""), offsets)),
    st.sampled_from(["true", "No", "ON", "maybe", "0000-01-01", "2023-13-45", "abcdefgh99xx", "1e309", "1e-400",
                     "9223372036854775808", "-9223372036854775808", "inf", "NaN", "a@b.co", "\x00", "١٢٣"]),
)


def _numbers_by_gaps(gaps: list[int], start: int) -> list[int]:
    numbers, current = [], start
    for gap in gaps:
        current += gap
        numbers.append(current)
    return numbers


# --- the oracle: what PostgreSQL stores exactly, by Python's own parsing ------------------

def _decimal(text: str) -> decimal.Decimal | None:
    if not re.fullmatch(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?", text):
        return None
    return decimal.Decimal(text)


def _naive_and_offset(text: str) -> tuple[dt.datetime, dt.timedelta] | None:
    match = re.fullmatch(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?"
                         r"(Z|([+-])([0-9]{2}):?([0-9]{2})?)?)?", text)
    if not match:
        return None
    day, hour, minute, second, fraction, zone, sign, zone_hours, zone_minutes = match.groups()
    if fraction and fraction[6:].strip("0"):
        return None  # PostgreSQL would round sub-microsecond digits
    try:
        naive = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(
            int(hour or 0), int(minute or 0), int(second or 0), int((fraction or "0")[:6].ljust(6, "0"))))
    except ValueError:
        return None
    offset = dt.timedelta(0)
    if sign:
        if int(zone_hours) > 15 or int(zone_minutes or 0) > 59:
            return None
        offset = dt.timedelta(hours=int(zone_hours), minutes=int(zone_minutes or 0)) * (1 if sign == "+" else -1)
    return naive, offset


def _epoch_microseconds(text: str) -> int:
    naive, offset = _naive_and_offset(text)
    return (naive - dt.datetime(1970, 1, 1) - offset) // dt.timedelta(microseconds=1)


def stored_exactly(kind: str, text: str) -> bool:
    """Whether `text` is a `kind` that PostgreSQL's column type holds without change."""
    if kind == "integer":
        number = _decimal(text)
        return bool(re.fullmatch(r"[+-]?[0-9]+", text)) and BIGINT[0] <= number <= BIGINT[1]
    if kind == "float":
        number = _decimal(text)
        if number is None:
            return False
        value = float(text)
        return math.isfinite(value) and decimal.Decimal(repr(value)) == number
    if kind == "decimal":
        return _decimal(text) is not None
    if kind == "boolean":
        return text.lower() in {"true", "false", "t", "f", "yes", "no", "y", "n", "1", "0", "on", "off"}
    if kind == "date":
        return re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) is not None and _naive_and_offset(text) is not None
    if kind == "datetime":
        return _naive_and_offset(text) is not None
    return True


VALIDATOR = Validator(ValidationConfig.model_validate({"data_types": COLUMNS,
                                                       "ranges": {"c_float": {"min": -1e6, "max": 1e6}}}))


@settings(max_examples=settings().max_examples)
@given(rows=st.lists(st.tuples(*[hostile_values] * len(TYPES)), max_size=30),
       gaps=st.lists(st.integers(1, 3), min_size=30, max_size=30), start=st.integers(0, 10))
@example(rows=[("1",) * len(TYPES)] * 2 + [("2023-13-45",) * len(TYPES), ("abcdefgh99xx",) * len(TYPES)],
         gaps=[1] * 30, start=0)
def test_validator_properties(rows, gaps, start):
    numbers = _numbers_by_gaps(gaps[:len(rows)], start)
    arrays = [pa.array([row[i] for row in rows], pa.string()) for i in range(len(TYPES))]
    batch = pa.RecordBatch.from_arrays(arrays, names=list(COLUMNS))
    result = VALIDATOR.validate(SourceChunk(batch, "hostile", numbers[0] if numbers else 1,
                                            row_numbers=pa.array(numbers, pa.int64())))
    rejected = {r.row_number: r for r in result.rejected}
    assert len(rejected) == len(result.rejected)
    assert result.valid.num_rows + len(rejected) == len(rows)
    assert sorted(result.valid_row_numbers.to_pylist() + list(rejected)) == numbers
    for row in result.rejected:
        assert row.error_code in ERROR_CODES and row.error_message and row.origin == "hostile"
        assert row.raw == dict(zip(COLUMNS, rows[numbers.index(row.row_number)]))
    for name, kind in COLUMNS.items():
        for value in result.valid.column(name).to_pylist():
            assert value is None or stored_exactly(kind, value), (kind, value)


def test_validator_accepts_what_postgresql_stores_exactly():
    """The other direction, on values generated valid: nothing exact is refused."""

    @settings(max_examples=settings().max_examples)
    @given(integer=st.integers(*BIGINT).map(str),
           floating=st.floats(allow_nan=False, allow_infinity=False).map(repr),
           exact=st.decimals(allow_nan=False, allow_infinity=False).map(str),
           day=st.dates().map(dt.date.isoformat),
           moment=st.builds(lambda m, z: m.isoformat() + z, st.datetimes(), st.one_of(st.just("Z"), offsets)))
    def accepted(integer, floating, exact, day, moment):
        values = {"c_integer": integer, "c_float": floating, "c_decimal": exact, "c_date": day, "c_datetime": moment}
        batch = pa.RecordBatch.from_arrays([pa.array([v]) for v in values.values()], names=list(values))
        config = ValidationConfig.model_validate({"data_types": {n: COLUMNS[n] for n in values}})
        result = Validator(config).validate(SourceChunk(batch, "valid", 1))
        expected = [] if stored_exactly("datetime", moment) else ["c_datetime"]
        assert [r.error_field for r in result.rejected] == expected, result.rejected

    accepted()


# --- staged values round-trip exactly --------------------------------------------------

def _read_back(kind: str, value):
    if kind == "float":
        return decimal.Decimal(repr(value))
    if kind == "datetime":
        return value
    return value


def _expected(kind: str, text: str):
    if kind in ("integer", "decimal"):
        return decimal.Decimal(text)
    if kind == "float":
        return decimal.Decimal(text)
    if kind == "boolean":
        return text.lower() in {"true", "t", "yes", "y", "1", "on"}
    if kind == "date":
        return dt.date.fromisoformat(text)
    if kind == "datetime":
        return _epoch_microseconds(text)
    return text


@pytest.mark.server_matrix
def test_staged_values_round_trip_properties(warehouse):
    """Validated rows COPYed exactly as the stager sends them (binary where it can, else
    text) hold the source's values; many rows per example, one load per example."""
    raw = warehouse.raw_connection()
    pg = raw.driver_connection
    schema = f"roundtrip_{uuid.uuid4().hex[:8]}"
    pg.execute("SET TimeZone = 'UTC'")
    pg.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    pg.commit()
    types = {name: POSTGRES_TYPES[kind] for name, kind in COLUMNS.items()}
    catalog_types = {name: {"bigint": "bigint", "numeric": "numeric", "timestamptz": "timestamp with time zone"}
                     .get(pg_type, pg_type) for name, pg_type in types.items()}

    @settings(max_examples=max(5, settings().max_examples // 10))
    @given(rows=st.lists(st.tuples(*[hostile_values] * len(TYPES)), min_size=1, max_size=300))
    def round_trip(rows):
        arrays = [pa.array([row[i] for row in rows], pa.string()) for i in range(len(TYPES))]
        result = VALIDATOR.validate(SourceChunk(pa.RecordBatch.from_arrays(arrays, names=list(COLUMNS)), "h", 1))
        table = pa.Table.from_batches([result.valid]).append_column("n", result.valid_row_numbers)
        payload = encoding.encode(table, {**catalog_types, "n": "bigint"})
        target = sql.Identifier(schema, f"t{uuid.uuid4().hex[:8]}")
        columns = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t))
                                     for n, t in {**types, "n": "bigint"}.items())
        pg.execute(sql.SQL("CREATE TABLE {} ({})").format(target, columns))
        with pg.cursor() as cursor, cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN WITH ({})").format(
                target, sql.SQL(", ").join(sql.Identifier(n) for n in table.column_names),
                sql.SQL(payload.copy_options))) as copy:
            copy.write(payload.header + bytes(payload.data) + payload.trailer)
        selected = [sql.SQL("(extract(epoch FROM {c}) * 1000000)::bigint").format(c=sql.Identifier(n))
                    if COLUMNS[n] == "datetime" else sql.Identifier(n) for n in COLUMNS]
        stored = pg.execute(sql.SQL("SELECT n, {} FROM {}").format(sql.SQL(", ").join(selected), target)).fetchall()
        pg.rollback()
        source = {number: rows[number - 1] for number in result.valid_row_numbers.to_pylist()}
        assert len(stored) == len(source)
        for number, *values in stored:
            for (name, kind), value, text in zip(COLUMNS.items(), values, source[number]):
                text = text.strip() if text is not None and kind != "string" else text
                if value is None:
                    assert not text, (kind, text)
                    continue
                assert _read_back(kind, value) == _expected(kind, text), (kind, text, value, payload.format)

    try:
        round_trip()
    finally:
        pg.rollback()
        pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        pg.commit()
        raw.close()


# --- JSON and JSON Lines readers -------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)
json_lines = st.one_of(
    st.dictionaries(st.text(max_size=8), json_values, max_size=4).map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=20).filter(lambda t: "\n" not in t),
    st.sampled_from(["", "   ", "{broken", '{"": 1}', '{"userId": 1, "userid": 2}', '{"a": "\\ud800"}', "\t"]),
).map(lambda text: text.encode("utf-8", "surrogatepass"))
raw_lines = st.one_of(json_lines, st.binary(max_size=12).filter(lambda b: b"\n" not in b))


def _check_chunks(chunks: list[SourceChunk], expected_numbers: list[int]) -> None:
    staged = [n for chunk in chunks for n in chunk.batch_row_numbers().to_pylist()]
    problems = [p for chunk in chunks for p in chunk.problems]
    assert sorted(staged + [p.row_number for p in problems]) == expected_numbers
    for problem in problems:
        assert problem.error_code in ERROR_CODES and problem.message
        json.dumps(problem.raw).encode("utf-8")  # storable as UTF-8
    for chunk in chunks:
        for problem in chunk.bad_rows.values():
            assert problem.error_code in ERROR_CODES and problem.message
        assert all(len(name) <= 63 and re.fullmatch(r"[a-z0-9_]+", name) for name in chunk.batch.schema.names)


@settings(max_examples=settings().max_examples)
@given(lines=st.lists(raw_lines, max_size=25), chunk_rows=st.integers(1, 6), newline_at_end=st.booleans())
@example(lines=[b'{"a": 1}', b"", b"[5]", b"{broken", b'{"": 1}', b'{"a": 7}'], chunk_rows=2, newline_at_end=True)
def test_jsonl_reader_properties(tmp_path_factory, lines, chunk_rows, newline_at_end):
    path = tmp_path_factory.mktemp("jsonl") / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + (b"\n" if newline_at_end and lines else b""))
    source = FileSource.model_validate({"id": "s", "type": "jsonl", "path": str(path)})
    chunks = list(read_jsonl(path, source, ReadContext("p", path.parent, chunk_rows=chunk_rows)))
    expected = [n for n, line in enumerate(lines, start=1) if (line.removeprefix(b"\xef\xbb\xbf") if n == 1 else line).strip()]
    _check_chunks(chunks, expected)


@settings(max_examples=settings().max_examples)
@given(records=st.lists(json_values, max_size=25), chunk_rows=st.integers(1, 6))
def test_json_reader_properties(tmp_path_factory, records, chunk_rows):
    path = tmp_path_factory.mktemp("json") / "hostile.json"
    path.write_text(json.dumps(records))
    source = FileSource.model_validate({"id": "s", "type": "json", "path": str(path)})
    chunks = list(read_json(path, source, ReadContext("p", path.parent, chunk_rows=chunk_rows)))
    _check_chunks(chunks, list(range(1, len(records) + 1)))
    staged = {n: row for c in chunks for n, row in zip(c.batch_row_numbers().to_pylist(), c.batch.to_pylist())}
    for number, row in staged.items():
        record = records[number - 1]
        assert isinstance(record, dict)
        assert sum(v is not None for v in row.values()) == sum(v is not None for v in record.values())
