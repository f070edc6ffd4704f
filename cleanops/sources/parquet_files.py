"""Parquet files: every column as text, in row groups of `chunk_rows`."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cleanops.pipelines.schema import FileSource
from cleanops.sources.base import ReadContext, SourceChunk, SourceError, normalise_column_names, to_text


def read_parquet(path: Path, source: FileSource, context: ReadContext) -> Iterator[SourceChunk]:
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
        return pc.if_else(column, "true", "false").cast(pa.string())
    try:
        return column.cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array([to_text(v) for v in column.to_pylist()], pa.string())
