"""The seed sample, end to end: SQL source → staging → dbt → processed_users, emails hashed."""

from __future__ import annotations

import hashlib
import json

import pytest

from cleanops import settings
from cleanops.db import connection
from cleanops.scheduling.launch import run_pipeline
from cleanops.samples import prepare as samples
from cleanops_tests.conftest import unique_id
from cleanops_tests.transform.helpers import prepared_workspace, rows, scalar

pytestmark = pytest.mark.server_matrix
EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory, cleanops_database, dagster_instance):
    """The seed file as written (its own pipeline id and table), run twice through its job."""
    source_url = connection.render(samples.prepare(2000))
    spec = json.loads((settings.PROJECT_ROOT / "pipelines" / "user_data_etl.json").read_text())
    spec["pipeline_id"] = unique_id("user-data-etl")
    table = f"processed_users_{spec['pipeline_id'].rsplit('-', 1)[1]}"
    spec["destinations"][0]["table"] = table
    with prepared_workspace(tmp_path_factory.mktemp("seed"), [spec], CLEANOPS_CONN_PROD_USER_DB=source_url) as result:
        first = run_pipeline(spec["pipeline_id"], instance=dagster_instance)
        second = run_pipeline(spec["pipeline_id"], instance=dagster_instance)
        yield {"pipeline": result.pipelines[0], "table": f"marts.{table}", "runs": [first, second]}


def test_seed_pipeline_builds_processed_users_with_hashed_emails(seed_runs, warehouse):
    assert all(run.success for run in seed_runs["runs"])
    slug = seed_runs["pipeline"].spec.slug
    staged = scalar(warehouse, f'SELECT count(*) FROM staging."{slug}__source_001"')
    assert staged > 1900
    assert scalar(warehouse, f"SELECT count(*) FROM {seed_runs['table']}") == staged
    sample = rows(warehouse, f"SELECT d.email AS hashed, s.email AS raw FROM {seed_runs['table']} d "
                             f'JOIN staging."{slug}__source_001" s USING (user_id) LIMIT 50')
    assert sample and all(r["hashed"] == hashlib.sha256(r["raw"].encode()).hexdigest() for r in sample)


def test_no_raw_email_anywhere_in_the_destination(seed_runs, warehouse):
    columns = [r["column_name"] for r in rows(
        warehouse, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' "
                   "AND table_name = :t", t=seed_runs["table"].split(".")[1])]
    assert "email" in columns
    matches = " OR ".join(f'"{c}"::text ~ :pattern' for c in columns)
    assert scalar(warehouse, f"SELECT count(*) FROM {seed_runs['table']} WHERE {matches}", pattern=EMAIL_PATTERN) == 0


def test_quality_history_has_one_row_per_rule_per_run(seed_runs, warehouse):
    pipeline_id = seed_runs["pipeline"].spec.pipeline_id
    per_run = rows(warehouse, "SELECT run_id, count(*) AS n, count(DISTINCT (asset_key, rule_name)) AS rules "
                              "FROM cleanops.quality_results WHERE pipeline_id = :p GROUP BY run_id", p=pipeline_id)
    run_ids = {run.run_id for run in seed_runs["runs"]}
    assert {r["run_id"] for r in per_run} == run_ids
    # two GE rules on staging (required user_id, email) + two dbt tests on the destination
    assert all(r["n"] == r["rules"] == 4 for r in per_run)
    engines = rows(warehouse, "SELECT engine, bool_and(success) AS ok FROM cleanops.quality_results "
                              "WHERE pipeline_id = :p GROUP BY engine", p=pipeline_id)
    assert {r["engine"]: r["ok"] for r in engines} == {"great_expectations": True, "dbt": True}


def test_incremental_second_run_adds_nothing_twice(seed_runs, warehouse):
    batches = rows(warehouse, f"SELECT l.batch_id, count(*) AS n FROM {seed_runs['table']} s "
                              "JOIN cleanops.staged_loads l ON l.load_id = s._cleanops_load_id GROUP BY 1")
    assert len(batches) == 1  # the second run staged no new rows (watermark) and re-inserted none
