"""`transformations`: validation (applied while staging) and the steps compiled into dbt models."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from cleanops.pipelines.expressions import normalise_expression
from cleanops.pipelines.schema.base import TABLE_PATTERN, DataType, Identifier, Slug, Strict


class Range(Strict):
    min: float | None = None
    max: float | None = None


class ValidationConfig(Strict):
    required_fields: list[Identifier] = Field(default_factory=list)
    data_types: dict[Identifier, DataType] = Field(default_factory=dict)
    patterns: dict[Identifier, str] = Field(default_factory=dict)
    ranges: dict[Identifier, Range] = Field(default_factory=dict)
    allowed_values: dict[Identifier, list[Any]] = Field(default_factory=dict)
    unique: list[Identifier] | list[list[Identifier]] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, patterns: dict[str, str]) -> dict[str, str]:
        for field, pattern in patterns.items():
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"pattern for {field!r} is not a valid regular expression: {error}") from error
        return patterns

    def unique_keys(self) -> list[list[str]]:
        if not self.unique:
            return []
        if isinstance(self.unique[0], list):
            return [list(key) for key in self.unique]
        return [list(self.unique)]


class ValidationStep(Strict):
    step: int | None = None
    type: Literal["validation"]
    config: ValidationConfig = Field(default_factory=ValidationConfig)


AnonymizationMethod = Literal["hash_sha256", "hmac_sha256", "mask", "redact", "drop"]


class FieldAnonymization(Strict):
    method: AnonymizationMethod = "hmac_sha256"
    keep_start: int = Field(1, ge=0, le=4, description="mask: leading characters kept visible")


class AnonymizationConfig(Strict):
    """`fields: {email: hash_sha256}` or `{email: {method: mask, keep_start: 1}}`.

    A bare `true`/`null` method means hmac_sha256: a plain sha256 of an email is reversible by
    dictionary, so the keyed hash is the default.
    """

    fields: dict[Identifier, FieldAnonymization] = Field(min_length=1)

    @field_validator("fields", mode="before")
    @classmethod
    def _expand_shorthand(cls, fields: Any) -> Any:
        if not isinstance(fields, dict):
            return fields
        return {name: {"method": spec} if isinstance(spec, str) else ({} if spec in (None, True) else spec)
                for name, spec in fields.items()}


class DedupeConfig(Strict):
    key: list[Identifier] = Field(min_length=1)
    order_by: Identifier = "_cleanops_load_id"  # load order; `_cleanops_loaded_at` means the same
    keep: Literal["latest", "first"] = "latest"


class DateNormalisation(Strict):
    to: Literal["date", "timestamp"] = "date"
    format: str | None = Field(None, pattern=r"^[A-Za-z0-9 :\-/.,T]{1,40}$",
                               description="PostgreSQL to_date/to_timestamp format; default: ISO cast")


class CleansingConfig(Strict):
    trim: list[Identifier] = Field(default_factory=list)
    null_if_empty: list[Identifier] = Field(default_factory=list)
    case: dict[Identifier, Literal["upper", "lower", "title"]] = Field(default_factory=dict)
    dates: dict[Identifier, DateNormalisation] = Field(default_factory=dict)
    dedupe: DedupeConfig | None = None

    @field_validator("dates", mode="before")
    @classmethod
    def _expand_dates(cls, dates: Any) -> Any:
        if not isinstance(dates, dict):
            return dates
        return {name: {"to": spec} if isinstance(spec, str) else spec for name, spec in dates.items()}


class Join(Strict):
    """Exactly one of table / seed / model / source names the right-hand side."""

    table: str | None = Field(None, pattern=TABLE_PATTERN)
    seed: Identifier | None = None
    model: Identifier | None = None
    source: Slug | None = None
    on: dict[Identifier, Identifier] = Field(min_length=1, description="left column → right column")
    columns: dict[Identifier, Identifier] = Field(min_length=1, description="new column name → right column")
    how: Literal["left", "inner"] = "left"

    @field_validator("columns", mode="before")
    @classmethod
    def _columns_list(cls, columns: Any) -> Any:
        return {c: c for c in columns} if isinstance(columns, list) else columns

    @model_validator(mode="after")
    def _one_target(self) -> "Join":
        named = [v for v in (self.table, self.seed, self.model, self.source) if v]
        if len(named) != 1:
            raise ValueError("a join names exactly one of table, seed, model or source")
        return self


class EnrichmentConfig(Strict):
    joins: list[Join] = Field(default_factory=list)
    derived: dict[Identifier, str] = Field(default_factory=dict, description="new column → SQL expression")

    @field_validator("joins", mode="before")
    @classmethod
    def _single_join(cls, joins: Any) -> Any:
        return [joins] if isinstance(joins, dict) else joins

    @field_validator("derived")
    @classmethod
    def _expressions_safe(cls, derived: dict[str, str]) -> dict[str, str]:
        return {name: normalise_expression(text, name) for name, text in derived.items()}


class Measure(Strict):
    function: Literal["count", "count_distinct", "sum", "avg", "min", "max"]
    column: Identifier | None = Field(None, description="omit for count(*)")

    @model_validator(mode="after")
    def _column_needed(self) -> "Measure":
        if self.column is None and self.function != "count":
            raise ValueError(f"{self.function} needs a column")
        return self


class AggregationConfig(Strict):
    group_by: list[Identifier] = Field(default_factory=list)
    measures: dict[Identifier, Measure] = Field(min_length=1)


class AnonymizationStep(Strict):
    step: int | None = None
    type: Literal["anonymization"]
    config: AnonymizationConfig


class CleansingStep(Strict):
    step: int | None = None
    type: Literal["cleansing"]
    config: CleansingConfig = Field(default_factory=CleansingConfig)


class EnrichmentStep(Strict):
    step: int | None = None
    type: Literal["enrichment"]
    config: EnrichmentConfig = Field(default_factory=EnrichmentConfig)


class AggregationStep(Strict):
    step: int | None = None
    type: Literal["aggregation"]
    config: AggregationConfig


# anonymization, cleansing, enrichment, aggregation: compiled into dbt models (cleanops.transform).
OtherStep = Union[AnonymizationStep, CleansingStep, EnrichmentStep, AggregationStep]

Transformation = Annotated[
    Union[ValidationStep, AnonymizationStep, CleansingStep, EnrichmentStep, AggregationStep],
    Field(discriminator="type"),
]


def merge_validation(a: ValidationConfig, b: ValidationConfig) -> ValidationConfig:
    """Two validation configs as one: lists joined, maps merged with `b` winning."""
    return ValidationConfig(
        required_fields=list(dict.fromkeys([*a.required_fields, *b.required_fields])),
        data_types={**a.data_types, **b.data_types},
        patterns={**a.patterns, **b.patterns},
        ranges={**a.ranges, **b.ranges},
        allowed_values={**a.allowed_values, **b.allowed_values},
        unique=[*a.unique_keys(), *b.unique_keys()],
    )
