"""How a running load says how far it is, and how the CLI reads it back.

The load writes one line to the Dagster run's log now and then (at most once a second,
and once at the end); `cleanops pipelines run` follows the run's events and parses these
lines into its progress display. Both sides live here so the format cannot drift apart.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

Chunk = TypeVar("Chunk")

_LINE = re.compile(r"^(?P<table>\S+): read (?P<read>\d+), staged (?P<staged>\d+), quarantined (?P<rejected>\d+)")


@dataclass(frozen=True)
class LoadProgress:
    table: str
    records_read: int
    records_staged: int
    records_rejected: int


def progress_line(table: str, counts) -> str:
    """The same words as the line a finished load logs, with `so far` while it runs."""
    return (f"{table}: read {counts.records_read}, staged {counts.records_staged}, "
            f"quarantined {counts.records_quarantined} so far")


def parse_progress(message: str) -> LoadProgress | None:
    match = _LINE.match(message or "")
    if match is None:
        return None
    return LoadProgress(match["table"], int(match["read"]), int(match["staged"]), int(match["rejected"]))


def reporting(chunks: Iterable[Chunk], stager, log, every_seconds: float = 1.0) -> Iterator[Chunk]:
    """Pass `chunks` through, logging the stager's counts at most every `every_seconds`.

    Counts are read when the next chunk is asked for, so they lag the reader by the one
    chunk still being copied: good enough to show progress, never used as a total.
    """
    if log is None:
        yield from chunks
        return
    last = time.monotonic()
    for chunk in chunks:
        now = time.monotonic()
        if now - last >= every_seconds:
            log.info(progress_line(f"staging.{stager.table}", stager.counts))
            last = now
        yield chunk
