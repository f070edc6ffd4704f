"""The `?` placeholders of a SQL source's query, outside literals, quoted names and comments.

The schema counts them to check `parameters` when the file loads; the SQL source binds them
when it runs. Both read the query with this one grammar, so a `?` inside a string literal is
never counted by one and bound by the other.
"""

from __future__ import annotations

import re

SQL_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\?", re.S)


def count_placeholders(query: str) -> int:
    return sum(1 for m in SQL_TOKEN.finditer(query) if m.group(0) == "?")


def bind_placeholders(query: str) -> str:
    """`?` outside literals, quoted names and comments → `:p0`, `:p1`, … for sa.text()."""
    counter = iter(range(10_000))

    def replace(match: re.Match) -> str:
        token = match.group(0)
        return f":p{next(counter)}" if token == "?" else token

    # A literal colon (e.g. a PostgreSQL ::cast) must not be read as a bind by sa.text().
    escaped = re.sub(r"(?<!\\):", r"\\:", query)
    return SQL_TOKEN.sub(replace, escaped)
