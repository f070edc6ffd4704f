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
from typing import Any, Iterable, Iterator, Protocol

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

    @property
    def records_read(self) -> int:
        return self.batch.num_rows + len(self.problems)


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


def normalise_column_names(names: Iterable[str], origin: str) -> list[str]:
    """Source column names as lower-case SQL identifiers; clashes are errors."""
    result: list[str] = []
    for position, name in enumerate(names, start=1):
        clean = _NAME_CLEANER.sub("_", str(name).strip().lower()).strip("_")
        if not clean:
            raise SourceError(f"{origin}: column {position} has no usable name ({name!r})")
        if clean[0].isdigit():
            clean = f"c_{clean}"
        clean = clean[:63]
        if clean.startswith("_cleanops"):
            raise SourceError(f"{origin}: column name {name!r} is reserved for CleanOps")
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
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def records_to_batch(columns: list[str], rows: list[tuple]) -> pa.RecordBatch:
    """Python rows (tuples in `columns` order) as a batch of text columns."""
    arrays = [
        pa.array([to_text(row[i]) for row in rows], type=pa.string()) for i in range(len(columns))
    ]
    return pa.RecordBatch.from_arrays(arrays, names=columns)


def dicts_to_batch(records: list[dict], columns: list[str], origin: str) -> tuple[pa.RecordBatch, list[str]]:
    """JSON-like records as a batch; new keys extend `columns` (returned) in order."""
    known = list(columns)
    raw_to_clean = dict(zip(known, known))
    for record in records:
        for key in record:
            if key not in raw_to_clean:
                clean = normalise_column_names([key], origin)[0]
                if clean in known:
                    raise SourceError(f"{origin}: key {key!r} clashes with column {clean!r}")
                raw_to_clean[key] = clean
                known.append(clean)
    clean_to_raw: dict[str, list[str]] = {}
    for raw, clean in raw_to_clean.items():
        clean_to_raw.setdefault(clean, []).append(raw)
    arrays = []
    for clean in known:
        raws = clean_to_raw.get(clean, [clean])
        arrays.append(pa.array([_first_present(r, raws) for r in records], type=pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=known), known


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
