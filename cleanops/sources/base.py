"""What every source reader yields: chunks of text columns, plus rows it could not parse.

Readers turn every value into text (or null) so that validation sees exactly what the
source held and can quarantine a bad value with its original spelling; PostgreSQL parses
the validated text into typed columns during COPY.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, Sequence

import numpy as np
import pyarrow as pa

ROW_NUMBER_BASE = 1


class SourceError(RuntimeError):
    """A source cannot be read at all (missing file, unreachable server, bad response)."""


@dataclass(frozen=True)
class RowProblem:
    """A row the reader already knows is bad (unparseable, undecodable)."""

    row_number: int
    error_code: str
    field: str | None
    message: str
    raw: dict[str, Any] | str


@dataclass
class SourceChunk:
    """Up to a few tens of thousands of rows from one origin (file, query, URL)."""

    batch: pa.RecordBatch  # every column is pa.string()
    origin: str
    first_row_number: int  # row number of the batch's first row within its origin
    problems: list[RowProblem] = field(default_factory=list)  # rows not in `batch`
    bad_rows: dict[int, RowProblem] = field(default_factory=dict)  # batch index → problem
    # Each batch row's number in its origin, where rows are not simply consecutive from
    # `first_row_number` (a JSON Lines file with blank or broken lines between records).
    row_numbers: pa.Array | None = None

    @property
    def records_read(self) -> int:
        return self.batch.num_rows + len(self.problems)

    def batch_row_numbers(self) -> pa.Array:
        """The row number of every row of `batch`, as int64."""
        if self.row_numbers is not None:
            return self.row_numbers.cast(pa.int64())
        start = self.first_row_number
        return pa.array(np.arange(start, start + self.batch.num_rows, dtype=np.int64))


@dataclass
class ReadContext:
    """What a reader needs beyond its own config."""

    pipeline_id: str
    base_dir: Path
    watermark: dt.datetime | None = None
    skip_fingerprints: frozenset[str] = frozenset()
    skip_sizes: frozenset[int] = frozenset()  # sizes of those files: another size cannot be one of them
    chunk_rows: int = 100_000
    files_seen: list[dict[str, Any]] = field(default_factory=list)  # path, sha256, size


class Reader(Protocol):
    def __call__(self, source: Any, context: ReadContext) -> Iterator[SourceChunk]: ...


_NAME_CLEANER = re.compile(r"[^a-z0-9_]+")


class UnusableName(ValueError):
    """A source name that cannot become a column name; the message says why."""


def column_name(name: Any) -> str:
    """One source name as a lower-case SQL identifier (`User ID` → `user_id`)."""
    clean = _NAME_CLEANER.sub("_", str(name).strip().lower()).strip("_")
    if not clean:
        raise UnusableName(f"{name!r} has no letters or digits to make a column name of")
    if clean[0].isdigit():
        clean = f"c_{clean}"
    clean = clean[:63]
    if clean.startswith("_cleanops"):
        raise UnusableName(f"{name!r} is reserved for CleanOps")
    return clean


def normalise_column_names(names: Iterable[str], origin: str) -> list[str]:
    """Source column names as lower-case SQL identifiers; clashes are errors."""
    result: list[str] = []
    for position, name in enumerate(names, start=1):
        try:
            clean = column_name(name)
        except UnusableName as error:
            raise SourceError(f"{origin}: column {position}: {error}") from None
        if clean in result:
            raise SourceError(f"{origin}: columns {name!r} and another both become {clean!r}")
        result.append(clean)
    return result


def to_text(value: Any) -> str | None:
    """One value as the text PostgreSQL will parse; None stays null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (int, float, decimal.Decimal)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (dict, list)):
        return json_text(value)
    return str(value)


class JsonNumber(str):
    """A JSON number spelt exactly as in the source.

    Parsing JSON numbers into floats rounds them (`12345678901234567890.123456789` became
    `1.2345678901234567e+19`); kept as text, an undeclared column stores the source's
    digits and a declared `float`, `integer` or `decimal` column is checked against them.
    """


def parse_json(document: bytes | str) -> Any:
    """JSON with every number (and NaN/Infinity) kept as a JsonNumber."""
    return json.loads(document, parse_float=JsonNumber, parse_int=JsonNumber, parse_constant=JsonNumber)


class _Token(str):
    """Finished JSON text inside `json_text`'s work list."""


def json_text(value: Any) -> str:
    """JSON text of a parsed value, with numbers spelt as in the source.

    `json.dumps` would quote a JsonNumber as a string. The work list instead of recursion
    means a value nested as deeply as `json.loads` accepts cannot overflow the stack here.
    """
    parts: list[str] = []
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, (_Token, JsonNumber)):
            parts.append(item)
        elif isinstance(item, dict):
            pending.append(_Token("}"))
            entries = list(item.items())
            for position in range(len(entries) - 1, -1, -1):
                key, member = entries[position]
                pending.append(member)
                separator = ", " if position else ""
                pending.append(_Token(f"{separator}{json.dumps(str(key), ensure_ascii=False)}: "))
            pending.append(_Token("{"))
        elif isinstance(item, (list, tuple)):
            pending.append(_Token("]"))
            for position in range(len(item) - 1, -1, -1):
                pending.append(item[position])
                if position:
                    pending.append(_Token(", "))
            pending.append(_Token("["))
        else:
            parts.append(json.dumps(item, default=str, ensure_ascii=False))
    return "".join(parts)


def printable(text: str) -> str:
    """`text` with lone surrogates (from JSON escapes or undecodable bytes) as `\\udxxx`,
    so it can be stored as UTF-8 (a quarantined row's raw text, a message)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def records_to_batch(columns: list[str], rows: list[tuple]) -> pa.RecordBatch:
    """Python rows (tuples in `columns` order) as a batch of text columns."""
    arrays = [
        pa.array([to_text(row[i]) for row in rows], type=pa.string()) for i in range(len(columns))
    ]
    return pa.RecordBatch.from_arrays(arrays, names=columns)


class JsonRecords:
    """One source's JSON-like records (file, JSON Lines, API pages) as chunks.

    The column of a key is its normalised name (`userId` → `userid`) on every chunk and
    every page, so a later chunk maps keys exactly as the first did; keys that normalise
    to the same name are one column. A key first seen in a later record adds a column
    (earlier rows hold null in it). A record that is not an object, has a key that makes
    no column name (`""`), or holds two keys for one column is quarantined as
    MALFORMED_ROW; the rest of the source loads.
    """

    def __init__(self, origin: str):
        self.origin = origin
        self.columns: list[str] = []
        self._keys_of: dict[str, list[str]] = {}  # column → the source keys that fill it
        self._column_of: dict[str, str] = {}  # source key → column

    def chunk(self, records: Sequence[Any], row_numbers: Sequence[int],
              problems: Iterable[RowProblem] = ()) -> SourceChunk:
        """`records[i]` is row `row_numbers[i]` of the origin; `problems` are rows the
        reader could not parse at all."""
        problems = list(problems)
        good: list[dict] = []
        good_numbers: list[int] = []
        for record, number in zip(records, row_numbers):
            reason = self._admit(record)
            if reason is None:
                good.append(record)
                good_numbers.append(number)
            else:
                problems.append(RowProblem(number, "MALFORMED_ROW", None, f"row {number}: {reason}",
                                           printable(json_text(record))))
        batch, bad_rows = self._batch(good, good_numbers)
        first = good_numbers[0] if good_numbers else min((p.row_number for p in problems), default=1)
        return SourceChunk(batch, self.origin, first, problems=problems, bad_rows=bad_rows,
                           row_numbers=pa.array(good_numbers, pa.int64()))

    def _admit(self, record: Any) -> str | None:
        """Why `record` cannot be a row, or None after adding any new columns it brings."""
        if not isinstance(record, dict):
            return f"a {_json_kind(record)}, not a JSON object"
        seen: dict[str, str] = {}
        for key in record:
            column = self._column_of.get(key)
            if column is None:
                try:
                    column = column_name(key)
                except UnusableName as error:
                    return f"key {printable(str(key))!r} cannot be a column: {error}"
            if column in seen:
                return f"keys {printable(seen[column])!r} and {printable(str(key))!r} both map to column {column!r}"
            seen[column] = key
        for column, key in seen.items():
            if key not in self._column_of:
                self._column_of[key] = column
                if column not in self._keys_of:
                    self.columns.append(column)
                self._keys_of.setdefault(column, []).append(key)
        return None

    def _batch(self, records: list[dict], row_numbers: list[int]) -> tuple[pa.RecordBatch, dict[int, RowProblem]]:
        bad_rows: dict[int, RowProblem] = {}
        arrays = []
        for column in self.columns:
            keys = self._keys_of[column]
            if len(keys) == 1:
                values = [to_text(record.get(keys[0])) for record in records]
            else:
                values = [_first_present(record, keys) for record in records]
            arrays.append(_text_array(values, column, row_numbers, bad_rows))
        return pa.RecordBatch.from_arrays(arrays, names=list(self.columns)), bad_rows


def _text_array(values: list[str | None], column: str, row_numbers: list[int],
                bad_rows: dict[int, RowProblem]) -> pa.Array:
    """The values as a string array; a value UTF-8 cannot hold (a lone surrogate from a
    JSON escape such as `"\\ud800"`) marks its row INVALID_ENCODING instead of failing the chunk."""
    try:
        return pa.array(values, pa.string())
    except UnicodeEncodeError:
        pass
    repaired = []
    for index, value in enumerate(values):
        if value is not None and (shown := printable(value)) != value:
            bad_rows.setdefault(index, RowProblem(row_numbers[index], "INVALID_ENCODING", column,
                                                  f"{column}: {shown!r} holds a lone surrogate, not valid Unicode", {}))
            value = shown
        repaired.append(value)
    return pa.array(repaired, pa.string())


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "list"
    if isinstance(value, JsonNumber):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return type(value).__name__


def _first_present(record: dict, keys: list[str]) -> str | None:
    for key in keys:
        if key in record:
            return to_text(record[key])
    return None


def dotted_get(document: Any, path: str | None) -> Any:
    """`data.items` → document['data']['items']; None or '' → the document itself."""
    if not path:
        return document
    current = document
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current
