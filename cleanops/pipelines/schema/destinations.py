"""`destinations`: the warehouse tables a pipeline writes, through dbt."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cleanops.pipelines import naming
from cleanops.pipelines.schema.base import TABLE_PATTERN, Slug, Strict


class Destination(Strict):
    """`table` is written as `schema.table` or `table` (in marts); `schema_name` and `table_name` split it."""

    type: Literal["data_warehouse"] = "data_warehouse"
    connection: Slug
    table: str = Field(pattern=TABLE_PATTERN)

    @property
    def schema_name(self) -> str:
        """The schema the table lives in: the one written, or marts."""
        return naming.destination_relation(self.table)[0]

    @property
    def table_name(self) -> str:
        """The table without its schema (the dbt model's alias)."""
        return naming.destination_relation(self.table)[1]

    @property
    def relation(self) -> str:
        """`schema.table`, the schema always written out."""
        return f"{self.schema_name}.{self.table_name}"
