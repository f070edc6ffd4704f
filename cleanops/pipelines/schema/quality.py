"""`quality`: data-quality rules, run by Great Expectations against staged and destination tables."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from cleanops.pipelines.schema.base import TABLE_PATTERN, Identifier, Strict


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
