"""File sources: CSV, JSON, JSON Lines and Parquet, one path or a glob.

CSV is read with pyarrow's streaming reader as raw bytes so that memory stays flat and
a row with invalid UTF-8 or the wrong number of fields is quarantined on its own instead
of failing the whole file.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv

from cleanops.pipelines.schema import FileSource
from cleanops.sources.base import (
    ReadContext,
    RowProblem,
    SourceChunk,
    SourceError,
    normalise_column_names,
)
from cleanops.sources.json_files import read_json as _read_json
from cleanops.sources.json_files import read_jsonl as _read_jsonl
from cleanops.sources.parquet_files import read_parquet as _read_parquet

# ~25k users rows a chunk. The file is cut into pieces here rather than by pyarrow's
# streaming reader, which reads ahead and held ~40 MB of blocks at 1 MiB blocks (80 MB at
# 2 MiB). Cutting ourselves, one piece is read at a time, so pieces can be twice as big for
# the same peak RSS (per-chunk costs halve: 38 chunks for 1M rows, not 76). Each MiB more
# costs ~20 MB of peak RSS (the chunk's copies through validation and COPY), for no gain.
CSV_PIECE_BYTES = 2 << 20


def resolve_files(source: FileSource, base_dir: Path) -> list[Path]:
    """The files a path or glob names, relative to the pipeline file's folder."""
    pattern = Path(source.path).expanduser()
    if not pattern.is_absolute():
        pattern = base_dir / pattern
    if glob.has_magic(str(pattern)):
        files = sorted(Path(p) for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file())
        return files
    if not pattern.exists():
        raise SourceError(f"source {source.id!r}: file not found: {pattern}")
    if not pattern.is_file():
        raise SourceError(f"source {source.id!r}: not a file: {pattern}")
    return [pattern]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_files(source: FileSource, context: ReadContext) -> Iterator[SourceChunk]:
    """Every new file of the source, in name order; files loaded before are skipped."""
    readers = {"csv": _read_csv, "json": _read_json, "jsonl": _read_jsonl, "parquet": _read_parquet}
    for path in resolve_files(source, context.base_dir):
        size = path.stat().st_size
        entry = {"path": str(path), "sha256": None, "size_bytes": size, "skipped": False}
        context.files_seen.append(entry)
        if source.type == "csv" and size not in context.skip_sizes:
            # No file loaded before has this size, so this one is new: hash it while reading
            # it instead of in a pass of its own before the load starts.
            digest = hashlib.sha256()
            yield from _read_csv(path, source, context, digest)
            entry["sha256"] = digest.hexdigest()
            continue
        entry["sha256"] = file_sha256(path)
        if entry["sha256"] in context.skip_fingerprints:
            entry["skipped"] = True
            continue
        yield from readers[source.type](path, source, context)


# --- CSV -------------------------------------------------------------------------------

def _csv_header(path: Path, delimiter: str) -> list[str]:
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    if not head.strip():
        raise SourceError(f"{path}: the file is empty (no header row)")
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    first = next(csv.reader(io.StringIO(text), delimiter=delimiter), None)
    if not first:
        raise SourceError(f"{path}: the first line holds no column names")
    return first


def _read_csv(path: Path, source: FileSource, context: ReadContext, digest=None) -> Iterator[SourceChunk]:
    raw_names = _csv_header(path, source.delimiter)
    names = normalise_column_names(raw_names, str(path))
    malformed: list[RowProblem] = []
    lines = _LineCounter(path)
    piece_offset = 0

    def on_invalid_row(row) -> str:  # pyarrow numbers a piece's lines from 1
        line = (row.number or 0) + lines.line_at(piece_offset) - 1
        malformed.append(RowProblem(
            row_number=line,
            error_code="MALFORMED_ROW",
            field=None,
            message=f"line {line}: expected {row.expected_columns} fields, found {row.actual_columns}",
            raw=row.text,
        ))
        return "skip"

    read_options = pacsv.ReadOptions(column_names=names, use_threads=False)
    parse_options = pacsv.ParseOptions(delimiter=source.delimiter, newlines_in_values=True,
                                       invalid_row_handler=on_invalid_row)
    convert_options = pacsv.ConvertOptions(column_types={name: pa.binary() for name in names},
                                           strings_can_be_null=False, quoted_strings_can_be_null=False,
                                           null_values=[])
    next_row = 1
    for piece, piece_offset in _csv_pieces(path, CSV_PIECE_BYTES, digest):
        read_options.skip_rows = 1 if piece_offset == 0 else 0  # the header
        read_options.block_size = len(piece) + 1  # one batch per piece
        try:
            table = pacsv.read_csv(pa.py_buffer(piece), read_options=read_options, parse_options=parse_options,
                                   convert_options=convert_options)
        except pa.ArrowInvalid as error:
            if "Empty CSV file" in str(error):
                continue  # the header alone
            raise SourceError(f"{path}: cannot parse CSV near line {lines.line_at(piece_offset)}: {error}") \
                from error
        for batch in table.to_batches():
            chunk = _decode_batch(batch, str(path), next_row)
            chunk.problems.extend(malformed)
            malformed.clear()
            next_row += batch.num_rows
            yield chunk
    if malformed:
        yield SourceChunk(_empty_batch(names), str(path), next_row, problems=list(malformed))


class _LineCounter:
    """Physical line numbers of byte offsets, counted only when a message needs one:
    counting every piece's newlines cost more than the rare malformed row is worth."""

    def __init__(self, path: Path):
        self.path, self.offset, self.line = path, 0, 1

    def line_at(self, offset: int) -> int:
        if offset < self.offset:
            self.offset, self.line = 0, 1
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            while self.offset < offset:
                block = handle.read(min(offset - self.offset, 1 << 20))
                if not block:
                    break
                self.line += block.count(b"\n")
                self.offset += len(block)
        return self.line


def _csv_pieces(path: Path, piece_bytes: int, digest=None) -> Iterator[tuple[bytes, int]]:
    """The file in pieces of about `piece_bytes` that each end at a record boundary, with
    the byte offset each piece starts at; `digest` sees every byte."""
    offset, carry = 0, b""
    with open(path, "rb") as handle:
        while True:
            block = handle.read(piece_bytes)
            if digest is not None:
                digest.update(block)
            data = carry + block if carry else block
            if not block:
                if data:
                    yield data, offset
                return
            cut = _end_of_last_record(data)
            if cut is None:  # one record longer than a piece: read on
                carry = data
                continue
            piece, carry = data[:cut], data[cut:]
            yield piece, offset
            offset += len(piece)


def _end_of_last_record(data: bytes, quote: bytes = b'"') -> int | None:
    """Just past the last newline outside quotes: quotes are doubled inside a quoted field,
    so a newline ends a record exactly when the quotes before it are even in number."""
    if quote not in data:  # the usual case, found at memchr speed
        return (data.rfind(b"\n") + 1) or None
    quotes, end = data.count(quote), len(data)
    while (newline := data.rfind(b"\n", 0, end)) >= 0:
        if (quotes - data.count(quote, newline + 1)) % 2 == 0:
            return newline + 1
        end = newline
    return None


def _empty_batch(names: list[str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], pa.string()) for _ in names], names=names)


def _decode_batch(batch: pa.RecordBatch, origin: str, first_row: int) -> SourceChunk:
    """Binary columns to text; rows with invalid UTF-8 are marked, not dropped."""
    arrays, bad_rows = [], {}
    for name, column in zip(batch.schema.names, batch.columns):
        try:
            arrays.append(column.cast(pa.string()))
        except pa.ArrowInvalid:
            values = []
            for index, raw in enumerate(column.to_pylist()):
                try:
                    values.append(None if raw is None else raw.decode("utf-8"))
                except UnicodeDecodeError as error:
                    text = raw.decode("utf-8", errors="backslashreplace")
                    values.append(text)
                    bad_rows.setdefault(index, RowProblem(
                        first_row + index, "INVALID_ENCODING", name,
                        f"{name}: not valid UTF-8 ({error.reason} at byte {error.start})", {},
                    ))
            arrays.append(pa.array(values, pa.string()))
    return SourceChunk(pa.RecordBatch.from_arrays(arrays, names=batch.schema.names), origin, first_row,
                       bad_rows=bad_rows)
