"""GE suites as Dagster asset checks: one check op per table, one check per rule.

Severity `error` → a blocking check failing with ERROR, so nothing downstream of the table
runs in that run; `warn` → a WARN result that is recorded and shown but lets the run go on.
Every outcome is also written to `cleanops.quality_results`.

The checks are subsettable, so each can run on its own against the table as it is (the
UI's "Execute" on a check, or a run selecting only checks): the op evaluates just the
selected rules. They read the table, not the asset's output, so no materialization is needed.
"""

from __future__ import annotations

import dataclasses

import dagster as dg
import sqlalchemy as sa

from cleanops.quality import history
from cleanops.quality.expectations import RuleOutcome, run_in_postgres
from cleanops.quality.rules import CheckRule, CheckTarget
from cleanops.warehouse import WarehouseResource, engine_for_pipeline


def check_specs(target: CheckTarget) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(name=rule.check_name, asset=target.asset_key, blocking=rule.rule.severity == "error",
                              description=describe(rule), metadata={"rule_type": rule.rule.type,
                                                                    "severity": rule.rule.severity,
                                                                    "origin": rule.origin})
            for rule in target.rules]


def describe(rule: CheckRule) -> str:
    r = rule.rule
    parts = [f"{r.type}", f"column {r.column}" if r.column else "", f"columns {', '.join(r.columns)}" if r.columns
             else "", f"min {r.min}" if r.min is not None else "", f"max {r.max}" if r.max is not None else ""]
    return f"Great Expectations ({rule.origin}, {r.severity}): " + ", ".join(p for p in parts if p)


def table_columns(engine: sa.Engine, schema: str, table: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(sa.text("SELECT column_name FROM information_schema.columns "
                                        "WHERE table_schema = :s AND table_name = :t"), {"s": schema, "t": table}))


def evaluate(target: CheckTarget, run_id: str, rules: list[CheckRule] | None = None,
             warehouse: WarehouseResource | None = None) -> list[RuleOutcome]:
    """Run the target's suite (or only `rules` of it) in PostgreSQL and record every outcome in the history."""
    if rules is not None:
        target = dataclasses.replace(target, rules=rules)
    if not target.rules:
        return []
    engine = engine_for_pipeline(target.pipeline.spec, warehouse)
    columns = table_columns(engine, target.schema, target.table)
    if not columns:
        outcomes = [RuleOutcome(rule, False, error=f"table {target.schema}.{target.table} does not exist")
                    for rule in target.rules]
    else:
        outcomes = run_in_postgres(engine.url.render_as_string(hide_password=False), target, columns)
    history.record(engine, [history_row(target, outcome, run_id) for outcome in outcomes])
    return outcomes


def history_row(target: CheckTarget, outcome: RuleOutcome, run_id: str) -> history.ResultRow:
    rule = outcome.rule
    return history.ResultRow(
        pipeline_id=target.pipeline.spec.pipeline_id, asset_key=target.label, rule_name=rule.name,
        rule_type=rule.rule.type, severity=rule.rule.severity, success=outcome.success, run_id=run_id,
        observed_value=outcome.observed_value, element_count=outcome.element_count,
        unexpected_count=outcome.unexpected_count, unexpected_percent=outcome.unexpected_percent,
        sample_failing_keys=outcome.sample_failing_keys, expectation=outcome.expectation, error=outcome.error)


def observed_value(outcome: RuleOutcome) -> dg.MetadataValue:
    """What the check saw: GE's observed value where the expectation has one (a row count, a
    number of unexpected rows), else the number of rows that broke the rule; the error when
    the rule could not run at all."""
    value = outcome.observed_value
    if value is None:
        value = outcome.unexpected_count
    if value is None:
        return dg.MetadataValue.text(f"not evaluated: {outcome.error}" if outcome.error else "not evaluated")
    if isinstance(value, bool):
        return dg.MetadataValue.bool(value)
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if isinstance(value, float):
        return dg.MetadataValue.float(value)
    if isinstance(value, (dict, list)):
        return dg.MetadataValue.json(value)
    return dg.MetadataValue.text(str(value))


def check_result(target: CheckTarget, outcome: RuleOutcome) -> dg.AssetCheckResult:
    rule = outcome.rule
    metadata = {"rule": rule.name, "severity": rule.rule.severity,
                "observed_value": observed_value(outcome),
                "element_count": outcome.element_count if outcome.element_count is not None else -1,
                "unexpected_count": outcome.unexpected_count if outcome.unexpected_count is not None else -1,
                "sample_failing_keys": dg.MetadataValue.json(outcome.sample_failing_keys)}
    if outcome.error:
        metadata["error"] = outcome.error
    return dg.AssetCheckResult(
        asset_key=target.asset_key, check_name=rule.check_name, passed=outcome.success, metadata=metadata,
        severity=dg.AssetCheckSeverity.ERROR if rule.rule.severity == "error" else dg.AssetCheckSeverity.WARN)


def build_quality_check(target: CheckTarget) -> dg.AssetChecksDefinition:
    name = "ge_" + "__".join(target.asset_key.path).replace("-", "_")

    @dg.multi_asset_check(specs=check_specs(target), name=name, can_subset=True,
                          description=f"Great Expectations suite on {target.schema}.{target.table}")
    def _quality_check(context, warehouse: WarehouseResource):
        selected = {key.name for key in context.selected_asset_check_keys}
        rules = [rule for rule in target.rules if rule.check_name in selected]
        for outcome in evaluate(target, context.op_execution_context.run_id, rules, warehouse):
            if not outcome.success:
                context.log.warning(f"{target.label}: rule {outcome.rule.name} ({outcome.rule.rule.severity}) "
                                    f"failed: unexpected {outcome.unexpected_count}, observed "
                                    f"{outcome.observed_value}{', ' + outcome.error if outcome.error else ''}")
            yield check_result(target, outcome)

    return _quality_check
