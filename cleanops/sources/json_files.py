"""JSON and JSON Lines files: records to chunks, numbers kept as the source spelt them.

Row numbers follow the source: a JSON document's records are numbered by their place in
the list (the first is 1), a JSON Lines file's by their physical line, so blank or
broken lines never shift the numbers of the rows after them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from cleanops.pipelines.schema import FileSource
from cleanops.sources.base import (
    JsonRecords,
    ReadContext,
    RowProblem,
    SourceChunk,
    SourceError,
    dotted_get,
    parse_json,
    printable,
)

UTF8_BOM = b"\xef\xbb\xbf"


def read_json(path: Path, source: FileSource, context: ReadContext) -> Iterator[SourceChunk]:
    """One JSON document; `records_path` leads to its list of records (or one object)."""
    try:
        document = parse_json(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as error:
        raise SourceError(f"{path}: not valid JSON: {error}") from error
    except RecursionError:
        raise SourceError(f"{path}: not readable JSON: nested too deeply") from None
    records = dotted_get(document, source.records_path)
    if isinstance(records, dict) and source.records_path is None:
        records = [records]
    if not isinstance(records, list):
        raise SourceError(f"{path}: records_path {source.records_path!r} does not lead to a list of records")
    mapping = JsonRecords(str(path))
    for start in range(0, max(len(records), 1), context.chunk_rows):
        part = records[start:start + context.chunk_rows]
        yield mapping.chunk(part, range(start + 1, start + 1 + len(part)))


def read_jsonl(path: Path, source: FileSource, context: ReadContext) -> Iterator[SourceChunk]:
    """One JSON object per line; a blank line is no record, a broken one is quarantined."""
    mapping = JsonRecords(str(path))
    records, numbers, problems = [], [], []
    with open(path, "rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            if line_number == 1:
                line = line.removeprefix(UTF8_BOM)
            if not line.strip():
                continue
            record, problem = _parse_line(line, line_number)
            if problem is None:
                records.append(record)
                numbers.append(line_number)
            else:
                problems.append(problem)
            if len(records) + len(problems) >= context.chunk_rows:
                yield mapping.chunk(records, numbers, problems)
                records, numbers, problems = [], [], []
    if records or problems:
        yield mapping.chunk(records, numbers, problems)


def _parse_line(line: bytes, line_number: int) -> tuple[object, RowProblem | None]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        shown = line.decode("utf-8", errors="backslashreplace").rstrip("\r\n")
        return None, RowProblem(line_number, "INVALID_ENCODING", None,
                                f"line {line_number}: not valid UTF-8 ({error.reason} at byte {error.start})", shown)
    try:
        return parse_json(text), None
    except (ValueError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        return None, RowProblem(line_number, "MALFORMED_ROW", None, f"line {line_number}: not valid JSON ({reason})",
                                printable(text.rstrip("\r\n")))
