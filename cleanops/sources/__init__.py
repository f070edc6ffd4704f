"""Source readers: each turns one `data_sources` entry into chunks of text columns."""

from __future__ import annotations

from typing import Iterator

from cleanops.pipelines.schema import ApiSource, FileSource, SqlSource
from cleanops.sources.base import ReadContext, SourceChunk, SourceError


def read_source(source, context: ReadContext) -> Iterator[SourceChunk]:
    """Dispatch on the source's kind."""
    if isinstance(source, FileSource):
        from cleanops.sources.files import read_files

        return read_files(source, context)
    if isinstance(source, SqlSource):
        from cleanops.sources.sql import read_query

        return read_query(source, context)
    if isinstance(source, ApiSource):
        from cleanops.sources.api import read_api

        return read_api(source, context)
    raise SourceError(f"unknown source type {getattr(source, 'type', source)!r}")


__all__ = ["ReadContext", "SourceChunk", "SourceError", "read_source"]
