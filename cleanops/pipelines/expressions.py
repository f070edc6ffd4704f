"""Derived-column expressions: parsed, checked and re-rendered, never pasted.

A pipeline file may say `derived: {amount_eur: "amount * rate"}`. The text is parsed by
sqlglot as one PostgreSQL scalar expression; anything that is not a plain expression over
columns, literals, operators and known functions (a sub-select, a statement, a function
sqlglot does not know such as `pg_sleep` or `dblink`) is refused, and the SQL that reaches
dbt is sqlglot's own rendering of the parsed tree, not the user's characters.

sqlglot (about 30 MB resident) is imported on the first expression, not with the schema:
a load process whose pipeline derives nothing never pays for it.
"""

from __future__ import annotations

MAX_LENGTH = 2000


def _forbidden_nodes(exp) -> tuple[type, ...]:
    return (exp.Query, exp.Subquery, exp.Command, exp.DDL, exp.DML, exp.Anonymous, exp.Placeholder,
            exp.Parameter, exp.Star, exp.Into, exp.Table)


def normalise_expression(text: str, name: str = "expression") -> str:
    """The expression as safe PostgreSQL, or ValueError saying what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{name}: empty expression")
    if len(text) > MAX_LENGTH or any(ch in text for ch in "{};"):
        raise ValueError(f"{name}: expressions may not contain braces or semicolons and must be short")
    import sqlglot
    from sqlglot import expressions as exp

    try:
        tree = sqlglot.parse_one(text, dialect="postgres")
    except sqlglot.errors.ParseError as error:
        raise ValueError(f"{name}: not a valid SQL expression ({error.errors[0]['description']})") from None
    for node in tree.walk():
        if isinstance(node, _forbidden_nodes(exp)):
            if isinstance(node, exp.Anonymous):
                raise ValueError(f"{name}: function {node.name!r} is not on the list of known SQL functions")
            label = node.sql(dialect="postgres")[:40]
            raise ValueError(f"{name}: {type(node).__name__.lower()} {label!r} is not allowed in a derived column")
        if isinstance(node, exp.Column) and node.table:
            raise ValueError(f"{name}: refer to columns by their bare name, not {node.sql()!r}")
    rendered = tree.sql(dialect="postgres")
    if any(ch in rendered for ch in "{};"):
        raise ValueError(f"{name}: expression renders with forbidden characters")
    return rendered
