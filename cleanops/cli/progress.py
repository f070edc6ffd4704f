"""Showing long work while it runs: a live `rich` line on a terminal, plain lines elsewhere.

Reusable by any command that loops over work (a pipeline run, a cleanup over many
objects):

    with live_progress("cleanup", total=len(items)) as progress:
        for item in items:
            ...
            progress.update(f"deleting {item.kind}", completed=done, reclaimed=human_bytes(freed))

`update` replaces what the live line says (the current step, a count done out of
`total` when there is one, and named counters); `print` writes a permanent line above
it. Output goes to stderr by default so a command's stdout stays machine-readable.
Plain mode (a pipe, a CI log) prints a line when the step changes, or every
`plain_interval` seconds while counters move, never a line per item.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


def describe_counters(counters: dict[str, object]) -> str:
    """`read 1,200, staged 1,150, rejected 50`: numbers with thousands separators."""
    return ", ".join(f"{name} {value:,}" if isinstance(value, int) else f"{name} {value}"
                     for name, value in counters.items())


class RichProgress:
    """One live line (spinner, step, optional bar, counters, elapsed time) on a terminal."""

    def __init__(self, console: Console, title: str, total: int | None):
        columns = [SpinnerColumn(), TextColumn("[bold]{task.description}")]
        if total is not None:
            columns += [BarColumn(), MofNCompleteColumn()]
        columns += [TextColumn("{task.fields[detail]}"), TimeElapsedColumn()]
        self._console = console
        self._progress = Progress(*columns, console=console, transient=False)
        self._task = self._progress.add_task(title, total=total, detail="")

    def __enter__(self) -> "RichProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def update(self, step: str | None = None, *, completed: int | None = None, **counters: object) -> None:
        changes: dict[str, object] = {"detail": describe_counters(counters)} if counters else {}
        if step is not None:
            changes["description"] = step
        if completed is not None:
            changes["completed"] = completed
        self._progress.update(self._task, **changes)

    def print(self, line: str) -> None:
        self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)


class PlainProgress:
    """Timestamped lines for logs: `[   12.4s] step: read 1,000, staged 990`."""

    def __init__(self, stream: TextIO, title: str, total: int | None, plain_interval: float):
        self._stream, self._total, self._interval = stream, total, plain_interval
        self._started = time.monotonic()
        self._step, self._detail, self._completed = title, "", None
        self._printed_at = 0.0
        self._printed = ("", "", None)

    def __enter__(self) -> "PlainProgress":
        self._emit()
        return self

    def __exit__(self, *exc) -> None:
        if (self._step, self._detail, self._completed) != self._printed:
            self._emit()

    def update(self, step: str | None = None, *, completed: int | None = None, **counters: object) -> None:
        step_changed = step is not None and step != self._step
        self._step = step if step is not None else self._step
        self._detail = describe_counters(counters) if counters else self._detail
        self._completed = completed if completed is not None else self._completed
        due = time.monotonic() - self._printed_at >= self._interval
        if step_changed or (due and (self._step, self._detail, self._completed) != self._printed):
            self._emit()

    def print(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    def _emit(self) -> None:
        elapsed = time.monotonic() - self._started
        done = f" {self._completed}/{self._total}" if self._total is not None and self._completed is not None else ""
        detail = f": {self._detail}" if self._detail else ""
        self.print(f"[{elapsed:7.1f}s] {self._step}{done}{detail}")
        self._printed_at = time.monotonic()
        self._printed = (self._step, self._detail, self._completed)


@contextmanager
def live_progress(title: str, *, total: int | None = None, stream: TextIO | None = None,
                  plain_interval: float = 5.0) -> Iterator[RichProgress | PlainProgress]:
    """A progress display on `stream` (stderr): rich when it is a terminal, plain lines otherwise."""
    stream = stream or sys.stderr
    console = Console(file=stream)
    display = (RichProgress(console, title, total) if console.is_terminal
               else PlainProgress(stream, title, total, plain_interval))
    with display:
        yield display
