"""Every rule type as a GE expectation run in PostgreSQL, with outcomes and history rows."""

from __future__ import annotations

import uuid

import pytest

from cleanops.quality import history
from cleanops.quality.checks import evaluate
from cleanops.quality.rules import check_targets
from cleanops_tests.conftest import unique_id
from cleanops_tests.transform.helpers import rows

pytestmark = pytest.mark.server_matrix


@pytest.fixture
def checked(make_pipeline, warehouse):
    pipeline_id = unique_id("rules")
    slug = pipeline_id.replace("-", "_")
    with warehouse.begin() as conn:
        conn.exec_driver_sql(f'CREATE TABLE staging."{slug}__users" (id bigint, email text, country text, '
                             'age bigint, seen_at timestamptz, team text, _cleanops_row_number bigint, '
                             "synced_at timestamptz DEFAULT now() - interval '3 days')")
        conn.exec_driver_sql(f'INSERT INTO staging."{slug}__users" VALUES '
                             "(1, 'a@x.org', 'DE', 30, now(), 'red', 1), (2, NULL, 'FR', 41, now(), 'blue', 2),"
                             "(2, 'c@x.org', 'XX', 150, now() - interval '3 days', 'green', 3),"
                             "(4, 'not-an-email', 'DE', 20, now(), NULL, 4)")
        conn.exec_driver_sql(f'CREATE TABLE public."{slug}_teams" (name text)')
        conn.exec_driver_sql(f"INSERT INTO public.\"{slug}_teams\" VALUES ('red'), ('blue')")
    pipeline = make_pipeline({
        "pipeline_id": pipeline_id,
        "data_sources": [{"id": "users", "type": "csv", "path": "users.csv"}],
        "transformations": [{"type": "validation", "config": {"required_fields": ["id"], "unique": ["id"]}}],
        "quality": {"rules": [
            {"type": "row_count", "min": 1, "max": 10},
            {"type": "not_null", "column": "email", "mostly": 0.7, "severity": "warn"},
            {"name": "email_strict", "type": "not_null", "column": "email"},
            {"type": "allowed_values", "column": "country", "values": ["DE", "FR"]},
            {"type": "regex", "column": "email", "pattern": "^[^@]+@[^@]+$"},
            {"type": "range", "column": "age", "min": 0, "max": 120},
            {"type": "freshness", "column": "synced_at", "max_age_hours": 1, "severity": "warn"},
            {"name": "fresh_enough", "type": "freshness", "column": "seen_at", "max_age_hours": 24},
            {"type": "referential_integrity", "column": "team", "reference_table": f"public.{slug}_teams",
             "reference_column": "name"},
        ]},
    })
    (target,) = check_targets(pipeline)
    run_id = f"test-{uuid.uuid4()}"
    outcomes = {o.rule.name: o for o in evaluate(target, run_id)}
    return {"pipeline": pipeline, "target": target, "outcomes": outcomes, "run_id": run_id}


def test_rules_from_validation_and_quality_section(checked):
    names = [rule.name for rule in checked["target"].rules]
    assert names[:2] == ["required_id", "unique_id"]
    assert {r.origin for r in checked["target"].rules} == {"validation", "quality"}
    assert len(names) == 11


def test_outcomes_per_rule_type(checked):
    o = checked["outcomes"]
    expected = {"required_id": True, "unique_id": False, "row_count": True, "not_null_email": True,
                "email_strict": False, "allowed_values_country": False, "regex_email": False, "range_age": False,
                "freshness_synced_at": False, "fresh_enough": True, "referential_integrity_team": False}
    assert {name: outcome.success for name, outcome in o.items()} == expected
    assert all(outcome.error is None for outcome in o.values())
    assert o["row_count"].observed_value == 4
    assert o["unique_id"].unexpected_count == 2
    assert o["referential_integrity_team"].observed_value == 1  # green is not a team; null is not checked


def test_failing_rows_are_reported_by_key_only(checked):
    o = checked["outcomes"]
    assert o["allowed_values_country"].sample_failing_keys == [{"id": 2, "_cleanops_row_number": 3}]
    assert {k["_cleanops_row_number"] for k in o["unique_id"].sample_failing_keys} == {2, 3}
    assert all("email" not in key for key in o["regex_email"].sample_failing_keys)


def test_history_holds_one_row_per_rule_for_the_run(checked, warehouse):
    stored = rows(warehouse, "SELECT rule_name, success, severity, sample_failing_keys FROM cleanops.quality_results "
                             "WHERE run_id = :r", r=checked["run_id"])
    assert len(stored) == 11
    by_name = {r["rule_name"]: r for r in stored}
    assert by_name["not_null_email"]["severity"] == "warn" and by_name["email_strict"]["severity"] == "error"
    # a retry of the same run replaces its rows rather than adding more
    evaluate(checked["target"], checked["run_id"])
    assert history.count_for_run(warehouse, checked["pipeline"].spec.pipeline_id, checked["run_id"]) == 11


def test_a_missing_table_fails_every_rule_with_a_reason(make_pipeline):
    pipeline = make_pipeline({"pipeline_id": unique_id("nothing"),
                              "data_sources": [{"id": "s", "type": "csv", "path": "none.csv"}],
                              "quality": [{"type": "row_count", "min": 1}]})
    (target,) = check_targets(pipeline)
    (outcome,) = evaluate(target, f"test-{uuid.uuid4()}")
    assert not outcome.success and "does not exist" in outcome.error


def test_rule_parameters_are_checked_when_the_file_loads(make_pipeline, pipelines_dir):
    from cleanops.pipelines.loader import load_file
    from cleanops_tests.conftest import write_pipeline

    spec = {"pipeline_id": unique_id("bad"), "data_sources": [{"id": "s", "type": "csv", "path": "x.csv"}],
            "quality": [{"type": "range", "column": "age"}]}
    loaded, errors = load_file(write_pipeline(pipelines_dir, spec))
    assert loaded is None and "min" in errors[0].message


def test_quality_cli_rules_and_check(checked, warehouse):
    from click.testing import CliRunner

    from cleanops.cli.main import cli

    pipeline_id = checked["pipeline"].spec.pipeline_id
    listed = CliRunner().invoke(cli, ["quality", "rules", pipeline_id])
    assert listed.exit_code == 0 and "email_strict" in listed.output and "warning" in listed.output
    before = history.report(warehouse, pipeline_id)
    checked_now = CliRunner().invoke(cli, ["quality", "check", pipeline_id])
    assert checked_now.exit_code == 1  # blocking rules fail
    assert "FAIL  staging/" in checked_now.output and "pass  staging/" in checked_now.output
    after = {(e["asset"], e["rule"]): e for e in history.report(warehouse, pipeline_id)}
    assert len(after) == len(before) == 11
    assert all(len(entry["trend"]) == 2 for entry in after.values())
