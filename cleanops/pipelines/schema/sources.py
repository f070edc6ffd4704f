"""`data_sources`: files, SQL queries and HTTP APIs, one model per kind, told apart by `type`."""

from __future__ import annotations

import codecs
from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from cleanops.pipelines.placeholders import count_placeholders
from cleanops.pipelines.schema.base import Slug, Strict


class FileSource(Strict):
    id: Slug
    type: Literal["csv", "json", "jsonl", "parquet"]
    path: str = Field(min_length=1, description="A path or glob, relative to the pipeline file")
    delimiter: str = Field(",", min_length=1, max_length=1, description="CSV: one ASCII character")
    encoding: str = Field("utf-8", description="CSV: a Python codec name (latin-1, cp1252, utf-16, ...)")
    records_path: str | None = Field(None, description="For JSON documents: dotted path to the list of records")

    @field_validator("delimiter")
    @classmethod
    def _usable_delimiter(cls, value: str) -> str:
        """The delimiter must not be able to end a line, open a quote or be part of a value."""
        if not value.isascii() or value.isalnum() or value in '"\r\n' or (not value.isprintable() and value != "\t"):
            raise ValueError(f"{value!r} cannot separate CSV fields: use an ASCII punctuation character, "
                             "a space or a tab (not a quote, CR or LF)")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_text_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
            "".encode(value)  # a LookupError for codecs that are not text encodings (base64, rot13)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r} (try utf-8, latin-1, cp1252, utf-16)") from None
        return value


class SqlSource(Strict):
    id: Slug
    type: Literal["postgresql", "mysql", "sqlite"]
    connection: Slug
    query: str = Field(min_length=1)
    parameters: list[Any] = Field(default_factory=list, description="Bound to the query's `?` placeholders, in order")
    chunk_size: int = Field(50_000, gt=0)

    @model_validator(mode="after")
    def _placeholders_match_parameters(self) -> "SqlSource":
        count = count_placeholders(self.query)
        if count != len(self.parameters):
            raise ValueError(
                f"query has {count} '?' placeholder(s) but {len(self.parameters)} parameter(s) are given"
            )
        return self


class Pagination(Strict):
    type: Literal["none", "page", "offset", "cursor", "next_url"] = "none"
    page_param: str = "page"
    size_param: str = "per_page"
    page_size: int = Field(100, gt=0)
    start_page: int = 1
    offset_param: str = "offset"
    limit_param: str = "limit"
    cursor_param: str = "cursor"
    cursor_path: str | None = Field(None, description="Dotted path of the next cursor in the response")
    next_url_path: str | None = Field(None, description="Dotted path of the next page's URL in the response")
    max_pages: int = Field(10_000, gt=0)


class ApiSource(Strict):
    id: Slug
    type: Literal["api"]
    url: str = Field(pattern=r"^https?://")
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, Any] = Field(
        default_factory=dict, description="Free-form: the query string's parameters, any names the API takes")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Free-form: HTTP header name → value; values may name environment "
                                          "variables as ${VAR}")
    records_path: str | None = None
    pagination: Pagination = Field(default_factory=Pagination)
    timeout_seconds: float = Field(30, gt=0)
    max_retries: int = Field(3, ge=0)


DataSource = Annotated[Union[FileSource, SqlSource, ApiSource], Field(discriminator="type")]
