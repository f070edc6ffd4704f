"""Names and the base model every block of a pipeline file shares.

Identifiers that end up in SQL (pipeline and source ids, table and column names) are checked
against a strict pattern, so a name like `users; DROP TABLE x` is refused with the field that
holds it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
TABLE_PATTERN = r"^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$"

Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]

DataType = Literal["integer", "float", "decimal", "boolean", "string", "date", "datetime", "email"]


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently turn a rule off.

    Every block of the file is Strict. Where a block really holds a free-form map (HTTP
    headers, query parameters, tags), that map is one `dict[str, ...]` field, documented as such.
    """

    model_config = ConfigDict(extra="forbid")
