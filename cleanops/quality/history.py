"""`cleanops.quality_results`: the history GE and dbt tests do not keep.

One row per rule per asset per run; a retried step replaces its row (unique on run, asset,
rule), so "one row per rule per run" holds however often a step is retried.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

import sqlalchemy as sa

from cleanops.db import migrate

TREND_LENGTH = 10


@dataclass
class ResultRow:
    pipeline_id: str
    asset_key: str
    rule_name: str
    rule_type: str
    severity: str
    success: bool
    run_id: str
    engine: str = "great_expectations"
    observed_value: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    sample_failing_keys: list | None = None
    expectation: dict | None = None
    error: str | None = None


INSERT = sa.text("""
    INSERT INTO cleanops.quality_results
        (pipeline_id, asset_key, rule_name, rule_type, engine, severity, success, observed_value, element_count,
         unexpected_count, unexpected_percent, sample_failing_keys, expectation, error, run_id)
    VALUES (:pipeline_id, :asset_key, :rule_name, :rule_type, :engine, :severity, :success,
            CAST(:observed_value AS jsonb), :element_count, :unexpected_count, :unexpected_percent,
            CAST(:sample_failing_keys AS jsonb), CAST(:expectation AS jsonb), :error, :run_id)
    ON CONFLICT (run_id, asset_key, rule_name) DO UPDATE SET
        success = EXCLUDED.success, observed_value = EXCLUDED.observed_value,
        element_count = EXCLUDED.element_count, unexpected_count = EXCLUDED.unexpected_count,
        unexpected_percent = EXCLUDED.unexpected_percent, sample_failing_keys = EXCLUDED.sample_failing_keys,
        expectation = EXCLUDED.expectation, error = EXCLUDED.error, severity = EXCLUDED.severity,
        checked_at = now()
""")


def record(engine: sa.Engine, rows: Iterable[ResultRow]) -> int:
    params = [{**row.__dict__,
               "observed_value": json.dumps(row.observed_value, default=str),
               "sample_failing_keys": json.dumps(row.sample_failing_keys or [], default=str),
               "expectation": json.dumps(row.expectation or {}, default=str)} for row in rows]
    if not params:
        return 0
    migrate.migrate(engine)
    with engine.begin() as conn:
        conn.execute(INSERT, params)
    return len(params)


REPORT = sa.text("""
    WITH ranked AS (
        SELECT r.*, row_number() OVER (PARTITION BY asset_key, rule_name ORDER BY checked_at DESC, result_id DESC) AS n
        FROM cleanops.quality_results r WHERE pipeline_id = :pipeline_id
    )
    SELECT asset_key, rule_name, rule_type, engine, severity, success, observed_value, unexpected_count,
           unexpected_percent, sample_failing_keys, error, run_id, checked_at, n
    FROM ranked WHERE n <= :trend ORDER BY asset_key, rule_name, n
""")


def report(engine: sa.Engine, pipeline_id: str, trend: int = TREND_LENGTH) -> list[dict]:
    """Per asset and rule: the latest result, the recent trend (newest first) and the pass rate."""
    migrate.migrate(engine)
    with engine.connect() as conn:
        rows = conn.execute(REPORT, {"pipeline_id": pipeline_id, "trend": trend}).mappings().all()
    rules: dict[tuple[str, str], dict] = {}
    for row in rows:
        key = (row["asset_key"], row["rule_name"])
        if key not in rules:
            rules[key] = {"asset": row["asset_key"], "rule": row["rule_name"], "type": row["rule_type"],
                          "engine": row["engine"], "severity": row["severity"], "latest": _latest(row), "trend": []}
        rules[key]["trend"].append(bool(row["success"]))
    for entry in rules.values():
        entry["pass_rate"] = round(sum(entry["trend"]) / len(entry["trend"]), 3)
    return list(rules.values())


def _latest(row) -> dict:
    return {"success": row["success"], "observed_value": row["observed_value"],
            "unexpected_count": row["unexpected_count"], "unexpected_percent": row["unexpected_percent"],
            "sample_failing_keys": row["sample_failing_keys"], "error": row["error"], "run_id": row["run_id"],
            "checked_at": row["checked_at"].isoformat()}


def count_for_run(engine: sa.Engine, pipeline_id: str, run_id: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.text("SELECT count(*) FROM cleanops.quality_results WHERE pipeline_id = :p "
                                   "AND run_id = :r"), {"p": pipeline_id, "r": run_id})
