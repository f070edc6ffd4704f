"""How every `cleanops` command prints: JSON, tables and aligned lines, in one place.

`--json` output is plain JSON on stdout and nothing else; tables are rich tables that keep
long values whole when piped (200 columns, no colour codes); short listings are aligned
lines, one record a line, so they stay easy to grep.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import click

PIPED_WIDTH = 200


def echo_json(data) -> None:
    """The data as indented JSON on stdout (dates and other values as their text)."""
    click.echo(json.dumps(data, indent=2, default=str))


def console():
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else PIPED_WIDTH)


def table(*columns, title: str | None = None):
    """An empty rich table with these column headers (text or rich Columns), titled on the left."""
    from rich.table import Table

    return Table(*columns, title=title, title_justify="left")


def show(*renderables) -> None:
    """Print tables or marked-up text through the shared console."""
    out = console()
    for renderable in renderables:
        out.print(renderable)


def aligned(values: Sequence[object], widths: Sequence[int]) -> str:
    """One line: each value left-aligned in its width, the values beyond `widths` as they are."""
    padded = [f"{value!s:<{width}}" for value, width in zip(values, widths)]
    return " ".join(padded + [str(value) for value in values[len(widths):]])


def size(n: float) -> str:
    """Bytes in a person's units: 512 B, 1.5 KB, 3.2 GB."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
