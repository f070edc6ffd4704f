"""The pipeline file, as a pydantic schema.

One file describes one pipeline in the format of the seed sample
(`shared/samples/pipeline_config.json`). Identifiers that end up in SQL (pipeline and
source ids, table and column names) are checked against a strict pattern here, so a
name like `users; DROP TABLE x` is refused with the field that holds it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
TABLE_PATTERN = r"^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$"

Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]

DataType = Literal["integer", "float", "decimal", "boolean", "string", "date", "datetime", "email"]


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently turn a rule off."""

    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    """Blocks later issues extend; unknown keys are kept for them."""

    model_config = ConfigDict(extra="allow")


# --- sources ---------------------------------------------------------------------------

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
        import codecs

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
    parameters: list[Any] = Field(default_factory=list)
    chunk_size: int = Field(50_000, gt=0)

    @model_validator(mode="after")
    def _placeholders_match_parameters(self) -> "SqlSource":
        from cleanops.sources.sql import count_placeholders

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
    params: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(
        default_factory=dict, description="Values may name environment variables as ${VAR}"
    )
    records_path: str | None = None
    pagination: Pagination = Field(default_factory=Pagination)
    timeout_seconds: float = Field(30, gt=0)
    max_retries: int = Field(3, ge=0)


DataSource = Annotated[Union[FileSource, SqlSource, ApiSource], Field(discriminator="type")]


# --- transformations -------------------------------------------------------------------

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
        from cleanops.transform.expressions import normalise_expression

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


# --- quality ---------------------------------------------------------------------------

QualityRuleType = Literal["row_count", "not_null", "unique", "allowed_values", "regex", "range", "freshness",
                          "referential_integrity"]


class QualityRule(Strict):
    """One data-quality rule, run by Great Expectations against a table in PostgreSQL.

    `table` says which asset it guards: `staging` (every source's staged table, the default),
    a source id, or a destination table name.
    """

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_:.-]{0,80}$")] | None = None
    type: QualityRuleType
    table: str = Field("staging", pattern=r"^[A-Za-z0-9_.-]{1,127}$")
    severity: Literal["error", "warn"] = "error"
    column: Identifier | None = None
    columns: list[Identifier] = Field(default_factory=list)
    min: float | None = None
    max: float | None = None
    mostly: float = Field(1.0, gt=0, le=1, description="share of rows that must pass")
    values: list[Any] = Field(default_factory=list)
    pattern: str | None = None
    max_age_hours: float | None = Field(None, gt=0)
    reference_table: str | None = Field(None, pattern=TABLE_PATTERN)
    reference_column: Identifier | None = None

    @model_validator(mode="after")
    def _parameters_fit_type(self) -> "QualityRule":
        needs_column = {"not_null", "allowed_values", "regex", "range", "freshness", "referential_integrity"}
        if self.type in needs_column and not self.column:
            raise ValueError(f"a {self.type} rule needs `column`")
        if self.type == "unique" and not (self.column or self.columns):
            raise ValueError("a unique rule needs `column` or `columns`")
        if self.type in ("row_count", "range") and self.min is None and self.max is None:
            raise ValueError(f"a {self.type} rule needs `min` and/or `max`")
        if self.type == "allowed_values" and not self.values:
            raise ValueError("an allowed_values rule needs `values`")
        if self.type == "regex":
            if not self.pattern:
                raise ValueError("a regex rule needs `pattern`")
            re.compile(self.pattern)
        if self.type == "freshness" and self.max_age_hours is None:
            raise ValueError("a freshness rule needs `max_age_hours`")
        if self.type == "referential_integrity" and not (self.reference_table and self.reference_column):
            raise ValueError("a referential_integrity rule needs `reference_table` and `reference_column`")
        return self

    @property
    def rule_name(self) -> str:
        if self.name:
            return self.name
        target = self.column or "_".join(self.columns)
        return f"{self.type}_{target}" if target else self.type


class QualityConfig(Strict):
    rules: list[QualityRule] = Field(default_factory=list)
    validation_rules: Literal["error", "warn", "off"] = Field(
        "error", description="severity of the checks derived from the validation config")

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, value: Any) -> Any:
        return {"rules": value} if isinstance(value, list) else value

    @field_validator("rules")
    @classmethod
    def _names_unique(cls, rules: list[QualityRule]) -> list[QualityRule]:
        seen: set[tuple[str, str]] = set()
        for rule in rules:
            key = (rule.table, rule.rule_name)
            if key in seen:
                raise ValueError(f"two quality rules are named {rule.rule_name!r} on {rule.table!r}: add `name`")
            seen.add(key)
        return rules


# --- the rest of the file --------------------------------------------------------------

class Destination(Strict):
    type: Literal["data_warehouse"] = "data_warehouse"
    connection: Slug
    table: str = Field(pattern=TABLE_PATTERN)


class RetryPolicyConfig(Strict):
    max_retries: int = Field(3, ge=0, le=20)
    backoff_strategy: Literal["exponential", "linear", "fixed"] = "exponential"
    initial_delay: float = Field(60, ge=0)


# --- scheduling (issue 5) ---------------------------------------------------------------

MIN_SENSOR_INTERVAL_SECONDS = 5


class FileArrivalTrigger(Strict):
    """Run once per file that lands in a folder; the file moves to `processed/` after its load."""

    type: Literal["file_arrival"]
    path: str | None = Field(None, description="Folder to watch, relative to the pipeline file; ${VAR} is expanded. "
                                               "Default: the folder of the file source's glob")
    pattern: str | None = Field(None, description="Glob of file names, e.g. *.csv. Default: the source glob's name")
    source: Slug | None = Field(None, description="The file source that loads the file. Default: the first one")
    interval_seconds: int = Field(30, ge=MIN_SENSOR_INTERVAL_SECONDS)
    move_to_processed: bool = True
    max_files_per_run: int = Field(20, ge=1, le=1000, description="Files seen in one sensor tick share a run, "
                                   "up to this many (a run costs seconds of overhead; 1 = a run per file)")


class NewRowsTrigger(Strict):
    """Run when a watermark query (one value, e.g. `SELECT max(updated_at) FROM users`) changes."""

    type: Literal["new_rows"]
    connection: Slug
    watermark_query: str = Field(min_length=1)
    interval_seconds: int = Field(60, ge=MIN_SENSOR_INTERVAL_SECONDS)


class ExternalTrigger(Strict):
    """Run only when asked: `cleanops trigger PIPELINE_ID` or Dagster's GraphQL API."""

    type: Literal["external"]


Trigger = Annotated[Union[FileArrivalTrigger, NewRowsTrigger, ExternalTrigger], Field(discriminator="type")]


class Schedule(Open):
    """When a pipeline runs. `cron` → a Dagster schedule; `event` → one sensor per trigger."""

    type: Literal["cron", "event", "manual"] = "manual"
    expression: str | None = None
    timezone: str = "UTC"
    enabled: bool = True
    triggers: list[Trigger] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, timezone: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {timezone!r} (use an IANA name such as Europe/Berlin)") from error
        return timezone

    @model_validator(mode="after")
    def _type_has_what_it_needs(self) -> "Schedule":
        from cleanops.scheduling.cron import is_valid as is_valid_cron_string

        if self.type == "cron":
            if not self.expression:
                raise ValueError("a cron schedule needs an expression, e.g. '0 2 * * *'")
            if not is_valid_cron_string(self.expression):
                raise ValueError(f"{self.expression!r} is not a valid cron expression")
        if self.type == "event" and not self.triggers:
            raise ValueError("an event schedule needs at least one trigger (file_arrival, new_rows or external)")
        return self


class Resources(Open):
    """Per-pipeline limits, enforced by the queued run coordinator (see docs/scheduling.md)."""

    max_concurrent: int | None = Field(None, ge=1, le=8, description="Runs of this pipeline at the same time")
    memory_mb: int | None = Field(None, ge=16, description="Memory budget of a run; sets SQL chunk sizes")
    pool: Slug | None = Field(None, description="Dagster pool of the pipeline's steps; default: one per destination")


class Notifications(Open):
    on_failure: list[str] = Field(default_factory=list)
    on_success: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)


class PipelineSpec(Strict):
    pipeline_id: Slug
    name: str | None = None
    description: str | None = None
    version: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    status: Literal["active", "paused", "disabled", "draft"] = "active"
    schedule: Schedule = Field(default_factory=Schedule)
    data_sources: list[DataSource] = Field(min_length=1)
    transformations: list[Transformation] = Field(default_factory=list)
    destinations: list[Destination] = Field(default_factory=list)
    retry_policy: RetryPolicyConfig | None = None
    notifications: Notifications = Field(default_factory=Notifications)
    # Extended by the scheduling, quality and monitoring issues.
    priority: Literal["critical", "high", "medium", "low"] = "medium"
    depends_on: list[Slug] = Field(default_factory=list)
    resources: Resources = Field(default_factory=Resources)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("data_sources")
    @classmethod
    def _source_ids_unique(cls, sources: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for source in sources:
            if source.id in seen:
                raise ValueError(f"source id {source.id!r} is used twice")
            seen.add(source.id)
        return sources

    @field_validator("depends_on")
    @classmethod
    def _depends_on_unique(cls, upstreams: list[str]) -> list[str]:
        if len(set(upstreams)) != len(upstreams):
            raise ValueError("depends_on lists a pipeline twice")
        return upstreams

    @model_validator(mode="after")
    def _not_its_own_upstream(self) -> "PipelineSpec":
        if self.pipeline_id in self.depends_on:
            raise ValueError("a pipeline cannot depend on itself")
        return self

    @property
    def slug(self) -> str:
        """The pipeline id as a SQL and Dagster name: `user-data-etl-001` → `user_data_etl_001`."""
        return to_identifier(self.pipeline_id)

    def validation(self) -> ValidationConfig:
        """All validation steps merged, in file order."""
        merged = ValidationConfig()
        for step in self.transformations:
            if isinstance(step, ValidationStep):
                merged = _merge_validation(merged, step.config)
        return merged


def to_identifier(name: str) -> str:
    """A slug as a lower-case SQL identifier."""
    return re.sub(r"[^a-z0-9_]", "_", name.lower())


MAX_SQL_NAME = 63  # PostgreSQL truncates longer identifiers, so two long names could silently meet


def staging_table_name(pipeline_slug: str, source_id: str) -> str:
    """`<pipeline>__<source>`: the source's staging and quarantine table and its asset key."""
    name = f"{pipeline_slug}__{to_identifier(source_id)}"
    if len(name) > MAX_SQL_NAME:
        raise ValueError(f"staging table name {name!r} is longer than PostgreSQL's {MAX_SQL_NAME} characters: "
                         f"shorten the pipeline_id or the source id")
    return name


def _merge_validation(a: ValidationConfig, b: ValidationConfig) -> ValidationConfig:
    return ValidationConfig(
        required_fields=list(dict.fromkeys([*a.required_fields, *b.required_fields])),
        data_types={**a.data_types, **b.data_types},
        patterns={**a.patterns, **b.patterns},
        ranges={**a.ranges, **b.ranges},
        allowed_values={**a.allowed_values, **b.allowed_values},
        unique=[*a.unique_keys(), *b.unique_keys()],
    )
