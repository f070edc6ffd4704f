"""Quality rules as a Great Expectations 1.x suite, run where the data is.

Against PostgreSQL the suite runs through GE's SQL datasource (`add_sql` with a SQLAlchemy
URL: `add_postgres` refuses unix-socket URLs), so every expectation is a query and the table
never comes into memory. The same suite can run on a pandas DataFrame (the benchmark
compares the two). GE has no severity that stops a pipeline; CleanOps keeps the severity on
the rule and maps it to blocking Dagster checks.

Failing rows are reported by key columns only (`sample_failing_keys`): the failing values
themselves may be personal data and are not copied into the history.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from cleanops.quality.rules import CheckRule, CheckTarget

SAMPLE_SIZE = 20
CUSTOM_SQL = ("freshness", "referential_integrity")  # unexpected-row queries: no per-row keys


@dataclass
class RuleOutcome:
    rule: CheckRule
    success: bool
    observed_value: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    sample_failing_keys: list[dict] = field(default_factory=list)
    expectation: dict = field(default_factory=dict)
    error: str | None = None


def _quoted(name: str) -> str:
    return f'"{name}"'


def _interval_seconds(hours: float) -> str:
    return repr(float(hours) * 3600.0)


def _custom_sql(rule) -> str | None:
    """Freshness and referential integrity as unexpected-row queries over GE's {batch}."""
    if rule.type == "freshness":
        column = _quoted(rule.column)
        return (f"select max({column}) as newest from {{batch}} having coalesce(max({column}) >= "
                f"now() - make_interval(secs => {_interval_seconds(rule.max_age_hours)}), false) = false")
    if rule.type == "referential_integrity":
        reference = ".".join(_quoted(p) for p in rule.reference_table.split("."))
        column = _quoted(rule.column)
        referenced = _quoted(rule.reference_column)
        # GE cannot alias {batch}; NOT IN keeps the checked column in the outer scope.
        return (f"select {column} from {{batch}} where {column} is not null and {column} not in "
                f"(select {referenced} from {reference} where {referenced} is not null)")
    return None


def to_expectation(check: CheckRule, pandas: bool = False):
    """One rule → one GE expectation; the rule name travels in `meta`."""
    import great_expectations as gx

    rule, meta = check.rule, {"rule": check.name}
    e = gx.expectations
    mostly = {"mostly": rule.mostly} if rule.mostly < 1 else {}
    if rule.type == "row_count":
        return e.ExpectTableRowCountToBeBetween(min_value=_int(rule.min), max_value=_int(rule.max), meta=meta)
    if rule.type == "not_null":
        return e.ExpectColumnValuesToNotBeNull(column=rule.column, meta=meta, **mostly)
    if rule.type == "unique":
        columns = rule.columns or [rule.column]
        if len(columns) == 1:
            return e.ExpectColumnValuesToBeUnique(column=columns[0], meta=meta, **mostly)
        return e.ExpectCompoundColumnsToBeUnique(column_list=list(columns), meta=meta, **mostly)
    if rule.type == "allowed_values":
        return e.ExpectColumnValuesToBeInSet(column=rule.column, value_set=list(rule.values), meta=meta, **mostly)
    if rule.type == "regex":
        return e.ExpectColumnValuesToMatchRegex(column=rule.column, regex=rule.pattern, meta=meta, **mostly)
    if rule.type == "range":
        return e.ExpectColumnValuesToBeBetween(column=rule.column, min_value=rule.min, max_value=rule.max,
                                               meta=meta, **mostly)
    if pandas:
        raise ValueError(f"{rule.type} rules run in PostgreSQL only")
    return e.UnexpectedRowsExpectation(unexpected_rows_query=_custom_sql(rule), meta=meta,
                                       description=f"{rule.type} on {rule.column}")


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def build_suite(name: str, rules: list[CheckRule], pandas: bool = False):
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=name)
    for rule in rules:
        suite.add_expectation(to_expectation(rule, pandas=pandas))
    return suite


def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def result_format(key_columns: tuple[str, ...]) -> dict:
    fmt: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
    if key_columns:
        fmt["unexpected_index_column_names"] = list(key_columns)
    return fmt


def run_in_postgres(url: str, target: CheckTarget, available_columns: set[str]) -> list[RuleOutcome]:
    """Validate the target table with its suite through GE's SQL datasource."""
    context = _context()
    # add_postgres refuses unix-socket URLs (STACK_NOTES); the generic SQL datasource is deliberate.
    warnings.filterwarnings("ignore", message="You are using a generic SQLDatasource")
    source = context.data_sources.add_sql(name="cleanops_warehouse", connection_string=url)
    asset = source.add_table_asset(name=target.label, table_name=target.table, schema_name=target.schema)
    batch = asset.add_batch_definition_whole_table("whole_table").get_batch()
    keys = tuple(c for c in target.key_columns if c in available_columns)
    return validate_with_samples(batch, f"cleanops.{target.label}", target.rules, keys)


def validate_with_samples(batch, name: str, rules: list[CheckRule], keys: tuple[str, ...],
                          pandas: bool = False) -> list[RuleOutcome]:
    """The suite without failing-row keys first (half the queries), then keys for failed rules only."""
    outcomes = outcomes_from(batch.validate(build_suite(name, rules, pandas), result_format=result_format(())),
                             rules, ())
    failed = [o.rule for o in outcomes if not o.success and o.error is None and o.rule.rule.type not in CUSTOM_SQL]
    if not failed or not keys:
        return outcomes
    sampled = outcomes_from(batch.validate(build_suite(f"{name}.samples", failed, pandas),
                                           result_format=result_format(keys)), failed, keys)
    samples = {o.rule.name: o.sample_failing_keys for o in sampled}
    for outcome in outcomes:
        outcome.sample_failing_keys = samples.get(outcome.rule.name, outcome.sample_failing_keys)
    return outcomes


def run_on_dataframe(frame, target: CheckTarget) -> list[RuleOutcome]:
    """The same suite against a pandas DataFrame (benchmark comparison)."""
    context = _context()
    source = context.data_sources.add_pandas(name="cleanops_frame")
    asset = source.add_dataframe_asset(name=target.label)
    batch = asset.add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": frame})
    keys = tuple(c for c in target.key_columns if c in frame.columns)
    rules = [r for r in target.rules if r.rule.type not in CUSTOM_SQL]
    return validate_with_samples(batch, f"cleanops.{target.label}.pandas", rules, keys, pandas=True)


def outcomes_from(validation, rules: list[CheckRule], keys: tuple[str, ...]) -> list[RuleOutcome]:
    by_name = {r.expectation_config.meta.get("rule"): r for r in validation.results}
    return [_outcome(rule, by_name.get(rule.name), keys) for rule in rules]


def _outcome(rule: CheckRule, result, keys: tuple[str, ...]) -> RuleOutcome:
    if result is None:
        return RuleOutcome(rule, False, error="no result returned by Great Expectations")
    details = result.result or {}
    error = _error_message(result.exception_info or {})
    samples = [{k: _plain(row.get(k)) for k in keys} for row in details.get("partial_unexpected_index_list") or []
               if isinstance(row, dict)]
    return RuleOutcome(
        rule=rule, success=bool(result.success) and error is None,
        observed_value=_plain(details.get("observed_value")), element_count=details.get("element_count"),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=_finite(details.get("unexpected_percent")),
        sample_failing_keys=samples[:SAMPLE_SIZE],
        expectation=result.expectation_config.to_json_dict(), error=error)


def _error_message(info: dict) -> str | None:
    """GE reports an exception either flat or keyed by the metric that raised it."""
    if info.get("raised_exception"):
        return str(info.get("exception_message"))[:2000]
    for value in info.values():
        if isinstance(value, dict) and value.get("exception_message"):
            return str(value["exception_message"])[:2000]
    return None


def _finite(value) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else float(value)


def _plain(value):
    """JSON-safe: numbers, strings and lists stay; anything else becomes its text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
