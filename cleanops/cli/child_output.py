"""Keeping the output of the processes a command starts out of the user's terminal.

A pipeline run starts the code location's server, which starts the run worker, which
runs dbt: each inherits this process's stdout and stderr and prints Dagster's DEBUG
event stream, dbt's banners and warnings. Those belong in a log file, not in the middle
of a progress display or in front of `--json` output. Redirecting file descriptors 1
and 2 (which children inherit) does that, while this process keeps a handle on the
terminal for its own live output.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


def _terminal_stderr() -> tuple[TextIO, bool]:
    """A stream on the real stderr that survives the redirection (and whether we own it)."""
    try:
        if sys.stderr.fileno() == 2:
            return io.TextIOWrapper(io.FileIO(os.dup(2), "w"), encoding="utf-8", line_buffering=True), True
    except (AttributeError, OSError, io.UnsupportedOperation):
        pass  # a stand-in stderr (click's test runner): writing to it is safe as it is
    return sys.stderr, False


@contextmanager
def children_output_to(log_path: Path) -> Iterator[TextIO]:
    """Send fds 1 and 2 (and so every child's output) to `log_path`; yield the terminal's stderr."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    terminal, owned = _terminal_stderr()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with open(log_path, "ab") as log:
        for fd in saved:
            os.dup2(log.fileno(), fd)
    try:
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, original in saved.items():
            os.dup2(original, fd)
            os.close(original)
        if owned:
            terminal.close()
