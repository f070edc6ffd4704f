"""Every transformation type compiled to dbt and run for real: cleansing, anonymisation
(hmac with a key from the environment), enrichment, aggregation, incremental destination,
and a hand-written model in the same graph."""

from __future__ import annotations

import hashlib
import hmac

import dagster as dg
import pytest
from click.testing import CliRunner

from cleanops.pipelines.loader import load_file
from cleanops.scheduling.launch import run_pipeline
from cleanops.transform import models, project
from cleanops_tests.conftest import unique_id
from cleanops_tests.transform.helpers import prepared_workspace, rows, scalar, write_spec

pytestmark = pytest.mark.server_matrix
HMAC_KEY = "test-key-not-a-secret"

FIRST_CSV = """id,email,name,country,amount,signup,phone,ssn
1,ann@example.com,  Ann Smith ,de,10.5,03/01/2024,,111
2,bob@example.com,Bob,fr,20,04/01/2024,555-1234,222
3,cy@example.com,Cy,de,30,05/01/2024, ,333
2,bob.new@example.com,Bob Jr,fr,25,06/01/2024,555-9999,222
"""
SECOND_CSV = """id,email,name,country,amount,signup,phone,ssn
3,cy.updated@example.com,Cy,gb,35,07/01/2024,,333
4,dee@example.com,Dee,fr,40,08/01/2024,,444
"""


def customer_spec(pipeline_id: str, table: str) -> dict:
    return {
        "pipeline_id": pipeline_id,
        "data_sources": [{"id": "customers", "type": "csv", "path": "data/customers*.csv"}],
        "transformations": [
            {"type": "validation", "config": {"required_fields": ["id", "email"],
                                              "data_types": {"id": "integer", "amount": "float"}}},
            {"type": "cleansing", "config": {"trim": ["name"], "case": {"country": "upper"},
                                             "null_if_empty": ["phone"],
                                             "dates": {"signup": {"to": "date", "format": "DD/MM/YYYY"}},
                                             "dedupe": {"key": ["id"]}}},
            {"type": "anonymization", "config": {"fields": {"email": "hmac_sha256", "name": "mask",
                                                            "phone": "redact", "ssn": "drop"}}},
            {"type": "enrichment", "config": {
                "joins": [{"table": "public.cleanops_test_countries", "on": {"country": "code"},
                           "columns": {"country_name": "name"}}],
                "derived": {"amount_with_vat": "round(CAST(amount AS numeric) * 1.2, 2)"}}},
        ],
        "destinations": [{"connection": "analytics-dw", "table": table}],
    }


def summary_spec(pipeline_id: str, table: str) -> dict:
    return {
        "pipeline_id": pipeline_id,
        "data_sources": [{"id": "customers", "type": "csv", "path": "data/customers*.csv"}],
        "transformations": [
            {"type": "validation", "config": {"required_fields": ["id"], "data_types": {"amount": "float"}}},
            {"type": "cleansing", "config": {"case": {"country": "upper"}}},
            {"type": "aggregation", "config": {"group_by": ["country"], "measures": {
                "customers": {"function": "count"}, "total": {"function": "sum", "column": "amount"}}}},
        ],
        "destinations": [{"connection": "analytics-dw", "table": table}],
    }


@pytest.fixture(scope="module")
def transformed(tmp_path_factory, cleanops_database, dagster_instance, warehouse):
    suffix = unique_id("t").split("-")[1]
    customers = customer_spec(f"customers-{suffix}", f"customers_{suffix}")
    summary = summary_spec(f"summary-{suffix}", f"country_summary_{suffix}")
    hand_written = {"custom/top_spenders.sql": (
        "{{ config(alias='top_spenders_" + suffix + "', meta={'cleanops': {'pipeline_slug': 'customers_" + suffix +
        "'}}) }}\nselect id, amount from {{ ref('customers_" + suffix + "__customers_" + suffix +
        "') }} where amount >= 30\n")}
    with warehouse.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS public.cleanops_test_countries (code text, name text)")
        conn.exec_driver_sql("TRUNCATE public.cleanops_test_countries")
        conn.exec_driver_sql("INSERT INTO public.cleanops_test_countries VALUES "
                             "('DE', 'Germany'), ('FR', 'France'), ('GB', 'United Kingdom')")
    root = tmp_path_factory.mktemp("models")
    data = root / "pipelines" / "data"
    data.mkdir(parents=True)
    (data / "customers1.csv").write_text(FIRST_CSV)
    with prepared_workspace(root, [customers, summary], hand_written, CLEANOPS_HMAC_KEY=HMAC_KEY) as result:
        first = run_pipeline(customers["pipeline_id"], instance=dagster_instance)
        before = rows(warehouse, f"SELECT * FROM marts.customers_{suffix} ORDER BY id")
        (data / "customers2.csv").write_text(SECOND_CSV)
        second = run_pipeline(customers["pipeline_id"], instance=dagster_instance)
        aggregated = run_pipeline(summary["pipeline_id"], instance=dagster_instance)
        yield {"suffix": suffix, "result": result, "runs": [first, second, aggregated], "before": before,
               "after": rows(warehouse, f"SELECT * FROM marts.customers_{suffix} ORDER BY id"), "root": root}


def test_runs_succeed(transformed):
    assert [run.success for run in transformed["runs"]] == [True, True, True]


def test_cleansing_dedupes_keeping_the_latest_row_and_normalises(transformed):
    before = {r["id"]: r for r in transformed["before"]}
    assert sorted(before) == [1, 2, 3]
    assert before[2]["amount"] == 25  # the later of the two id=2 rows
    assert before[1]["country"] == "DE" and before[1]["signup"].isoformat() == "2024-01-03"
    assert before[3]["phone"] is None  # blank → null, redact keeps null as null
    assert before[2]["phone"] == "[REDACTED]"


def test_anonymisation_hmac_mask_and_drop(transformed):
    row = {r["id"]: r for r in transformed["before"]}[1]
    expected = hmac.new(HMAC_KEY.encode(), b"ann@example.com", hashlib.sha256).hexdigest()
    assert row["email"] == expected == project.hmac_sha256_hex("ann@example.com", HMAC_KEY)
    assert row["email"] != hashlib.sha256(b"ann@example.com").hexdigest()
    assert row["name"] == "A***"
    assert "ssn" not in row


def test_enrichment_join_and_derived_column(transformed):
    row = {r["id"]: r for r in transformed["before"]}[2]
    assert row["country_name"] == "France"
    assert float(row["amount_with_vat"]) == 30.0


def test_incremental_destination_merges_the_new_batch_by_key(transformed):
    after = {r["id"]: r for r in transformed["after"]}
    assert sorted(after) == [1, 2, 3, 4]
    assert after[3]["country"] == "GB" and after[3]["amount"] == 35
    assert after[1]["_cleanops_load_id"] == transformed["before"][0]["_cleanops_load_id"]  # untouched rows stay


def test_aggregation_destination(transformed, warehouse):
    summary = {r["country"]: r for r in rows(
        warehouse, f"SELECT * FROM marts.country_summary_{transformed['suffix']}")}
    assert summary["FR"]["customers"] == 3 and float(summary["FR"]["total"]) == 85.0
    assert set(summary) == {"DE", "FR", "GB"}


def test_hand_written_model_joins_the_graph(transformed, warehouse):
    from cleanops.definitions import build_definitions

    suffix = transformed["suffix"]
    with_env = dict(CLEANOPS_PIPELINES_DIR=str(transformed["root"] / "pipelines"),
                    CLEANOPS_DBT_PROJECT_DIR=str(transformed["root"] / "cleanops_dbt"))
    from cleanops_tests.transform.helpers import environment

    with environment(**with_env):
        graph = build_definitions().resolve_asset_graph()
    custom = dg.AssetKey(["marts", f"top_spenders_{suffix}"])
    destination = dg.AssetKey(["marts", f"customers_{suffix}"])
    assert graph.get(custom).parent_keys == {destination}
    assert graph.get(custom).group_name == f"customers_{suffix}"
    assert scalar(warehouse, f"SELECT count(*) FROM marts.top_spenders_{suffix}") == 2
    staging = dg.AssetKey(["staging", f"customers_{suffix}__customers"])
    assert graph.get(destination).parent_keys == {dg.AssetKey(["transform", f"customers_{suffix}__s04_enrichment"])}
    assert staging in graph.get(dg.AssetKey(["transform", f"customers_{suffix}__s02_cleansing"])).parent_keys


def test_lineage_command_walks_the_graph(transformed):
    from cleanops.cli.main import cli
    from cleanops_tests.transform.helpers import environment

    with environment(CLEANOPS_PIPELINES_DIR=str(transformed["root"] / "pipelines"),
                     CLEANOPS_DBT_PROJECT_DIR=str(transformed["root"] / "cleanops_dbt")):
        result = CliRunner().invoke(cli, ["lineage", f"customers_{transformed['suffix']}", "--json"])
    assert result.exit_code == 0, result.output
    import json

    payload = json.loads(result.output[result.output.index("{"):])
    upstream = [row["asset"] for row in payload["upstream"]]
    assert f"staging/customers_{transformed['suffix']}__customers" in upstream
    assert f"marts/top_spenders_{transformed['suffix']}" in [row["asset"] for row in payload["downstream"]]
    assert payload["columns"]["email"]  # dbt column lineage recorded at materialization


def test_mask_expression_on_an_email(warehouse):
    expression = models.anonymize_expression("email", "mask")
    value = scalar(warehouse, f'SELECT {expression} FROM (SELECT CAST(:v AS text) AS "email") s', v="john@example.com")
    assert value == "j***@example.com"


def test_hmac_key_is_required_and_never_written(tmp_path, monkeypatch):
    monkeypatch.setenv("CLEANOPS_HMAC_KEY", HMAC_KEY)  # set, so that writing it would show
    spec = customer_spec("hmac-check", "hmac_check")
    loaded, errors = load_file(write_spec(tmp_path, spec))
    files = models.render_files([loaded])
    assert HMAC_KEY not in "".join(files.values()) and "current_setting('cleanops.hmac_opad')" in "".join(files.values())

    monkeypatch.delenv("CLEANOPS_HMAC_KEY")
    with pytest.raises(project.MissingHmacKey):
        with project.hmac_session_settings(required=True):
            pass


@pytest.mark.parametrize("expression", ["pg_sleep(10)", "(select password from users)", "1; drop table x",
                                        "amount + {{ env_var('X') }}", "u.amount", "dblink('host=x', 'select 1')"])
def test_unsafe_derived_expressions_are_refused(tmp_path, expression):
    spec = customer_spec("unsafe", "unsafe")
    spec["transformations"][3]["config"]["derived"] = {"x": expression}
    loaded, errors = load_file(write_spec(tmp_path, spec))
    assert loaded is None and any("derived" in e.field for e in errors), errors


def test_a_run_needing_hmac_fails_before_dbt_without_the_key(transformed, dagster_instance):
    from cleanops_tests.transform.helpers import environment

    customers_id = f"customers-{transformed['suffix']}"
    with environment(CLEANOPS_HMAC_KEY=None):
        outcome = run_pipeline(customers_id, instance=dagster_instance)
    assert not outcome.success
    failures = [e.dagster_event.step_failure_data.error.to_string() for e in dagster_instance.all_logs(outcome.run_id)
                if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert any("CLEANOPS_HMAC_KEY" in message for message in failures), failures


def test_two_pipelines_writing_one_table_keep_the_first(tmp_path):
    first, _ = load_file(write_spec(tmp_path, customer_spec("first-writer", "shared_table")))
    second, _ = load_file(write_spec(tmp_path, summary_spec("second-writer", "shared_table")))
    files = models.render_files([first, second])
    assert "first_writer/first_writer__shared_table.sql" in files
    assert not any(path.startswith("second_writer/") for path in files)


def test_old_dbt_run_folders_are_pruned(transformed):
    import os
    import time

    target = transformed["root"] / "cleanops_dbt" / "target"
    made = []
    for index in range(project.KEEP_INVOCATIONS + 3):
        folder = target / f"{project.INVOCATION_PREFIX}fake-{index}"
        folder.mkdir()
        os.utime(folder, (time.time() - 86400 * (index + 1),) * 2)  # older than the real runs
        made.append(folder)
    removed = project.prune_invocation_dirs()
    assert len(list(target.glob(f"{project.INVOCATION_PREFIX}*"))) == project.KEEP_INVOCATIONS
    assert set(removed) <= set(made) and made[-1] in removed and (target / "manifest.json").exists()
