"""File sources: CSV, JSON, JSON Lines and Parquet, one path or a glob.

CSV is read by cleanops.sources.csv_files, in pieces, so that memory stays flat and a bad
row is quarantined on its own instead of failing the whole file.
"""

from __future__ import annotations

import glob
import hashlib
import json
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from cleanops.pipelines import boundaries
from cleanops.pipelines.schema import FileSource
from cleanops.sources.base import (
    ReadContext,
    RowProblem,
    SourceChunk,
    SourceError,
    dicts_to_batch,
    dotted_get,
    normalise_column_names,
)
from cleanops.sources.file_state import file_state, refuse_if_changed
from cleanops.sources.csv_files import read_csv as _read_csv


def resolve_files(source: FileSource, base_dir: Path) -> list[Path]:
    """The files a path or glob names, relative to the pipeline file's folder.

    Every file must resolve inside the source roots (cleanops.pipelines.boundaries): checked
    here again, at read time, because a symlink can be changed after the file was validated.
    """
    pattern = Path(source.path).expanduser()
    if not pattern.is_absolute():
        pattern = base_dir / pattern
    is_glob = glob.has_magic(str(pattern))
    files = sorted(Path(p) for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file()) \
        if is_glob else [pattern]
    try:
        boundaries.check_inside_roots(files, base_dir, f"source {source.id!r}")
    except boundaries.OutsideRootsError as error:
        raise SourceError(str(error)) from error
    if not is_glob and not pattern.exists():
        raise SourceError(f"source {source.id!r}: file not found: {pattern}")
    if not is_glob and not pattern.is_file():
        raise SourceError(f"source {source.id!r}: not a file: {pattern}")
    return files


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_files(source: FileSource, context: ReadContext) -> Iterator[SourceChunk]:
    """Every new file of the source, in name order; files loaded before are skipped.

    A file that changes while it is hashed or read (appended, rewritten, replaced) is
    refused with a SourceError naming it: what was read is neither the old file nor the new
    one, so recording either hash would load rows twice or lose them. The load then rolls
    back and records nothing; the next run reads the finished file whole.
    """
    readers = {"csv": _read_csv, "json": _read_json, "jsonl": _read_jsonl, "parquet": _read_parquet}
    for path in resolve_files(source, context.base_dir):
        before = file_state(path, source.id)
        entry = {"path": str(path), "sha256": None, "size_bytes": before[0], "skipped": False}
        context.files_seen.append(entry)
        if source.type == "csv" and before[0] not in context.skip_sizes:
            # No file loaded before has this size, so this one is new: hash it while reading
            # it instead of in a pass of its own before the load starts.
            digest = hashlib.sha256()
            yield from _read_csv(path, source, context, digest)
            entry["sha256"] = digest.hexdigest()
        else:
            entry["sha256"] = file_sha256(path)
            if entry["sha256"] in context.skip_fingerprints:
                entry["skipped"] = True
            else:
                yield from readers[source.type](path, source, context)
        refuse_if_changed(path, source.id, before)


# --- JSON, JSON Lines, Parquet ---------------------------------------------------------

def _read_json(path: Path, source: FileSource, context: ReadContext) -> Iterator[SourceChunk]:
    try:
        document = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SourceError(f"{path}: not valid JSON: {error}") from error
    records = dotted_get(document, source.records_path)
    if isinstance(records, dict) and source.records_path is None:
        records = [records]
    if not isinstance(records, list):
        raise SourceError(f"{path}: records_path {source.records_path!r} does not lead to a list of records")
    yield from _records_in_chunks(records, str(path), context.chunk_rows)


def _records_in_chunks(records: list, origin: str, chunk_rows: int, first_row: int = 1) -> Iterator[SourceChunk]:
    columns: list[str] = []
    for start in range(0, max(len(records), 1), chunk_rows):
        part = records[start:start + chunk_rows]
        good = [r for r in part if isinstance(r, dict)]
        problems = [
            RowProblem(first_row + start + i, "MALFORMED_ROW", None, "record is not a JSON object", json.dumps(r))
            for i, r in enumerate(part) if not isinstance(r, dict)
        ]
        batch, columns = dicts_to_batch(good, columns, origin)
        yield SourceChunk(batch, origin, first_row + start, problems=problems)


def _read_jsonl(path: Path, source: FileSource, context: ReadContext) -> Iterator[SourceChunk]:
    columns: list[str] = []
    records: list[dict] = []
    problems: list[RowProblem] = []
    first_row = 1
    with open(path, "rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError("record is not a JSON object")
                records.append(record)
            except (ValueError, UnicodeDecodeError) as error:
                problems.append(RowProblem(line_number, "MALFORMED_ROW", None, f"line {line_number}: {error}",
                                           line.decode("utf-8", errors="backslashreplace").rstrip("\n")))
            if len(records) >= context.chunk_rows:
                batch, columns = dicts_to_batch(records, columns, str(path))
                yield SourceChunk(batch, str(path), first_row, problems=problems)
                first_row, records, problems = line_number + 1, [], []
    if records or problems:
        batch, columns = dicts_to_batch(records, columns, str(path))
        yield SourceChunk(batch, str(path), first_row, problems=problems)


def _read_parquet(path: Path, source: FileSource, context: ReadContext) -> Iterator[SourceChunk]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise SourceError(f"{path}: not a readable Parquet file: {error}") from error
    names = normalise_column_names(parquet.schema_arrow.names, str(path))
    next_row = 1
    for batch in parquet.iter_batches(batch_size=context.chunk_rows):
        arrays = [_parquet_column_as_text(column) for column in batch.columns]
        yield SourceChunk(pa.RecordBatch.from_arrays(arrays, names=names), str(path), next_row)
        next_row += batch.num_rows


def _parquet_column_as_text(column: pa.Array) -> pa.Array:
    if pa.types.is_boolean(column.type):
        import pyarrow.compute as pc

        return pc.if_else(column, "true", "false").cast(pa.string())
    try:
        return column.cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        from cleanops.sources.base import to_text

        return pa.array([to_text(v) for v in column.to_pylist()], pa.string())
