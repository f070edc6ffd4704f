"""Staging assets and their GE checks as the Dagster UI shows them, through real pipeline runs.

Empty inputs (a header-only CSV, a glob matching no file) still give a typed staging table
the checks pass on; the row count is the table's total; a check runs on its own against
the current table and says what it observed; a PostgreSQL source has one "postgres" kind.
"""

from __future__ import annotations

import dagster as dg
import pytest

from cleanops.ingestion.assets import asset_kinds, build_source_asset, staging_asset_key
from cleanops.ingestion.execution_log import build_execution_log
from cleanops.scheduling.launch import run_pipeline
from cleanops_tests.conftest import unique_id
from cleanops_tests.transform.helpers import prepared_workspace, rows, scalar, table_exists

pytestmark = pytest.mark.server_matrix

VALIDATION = {"type": "validation", "config": {"required_fields": ["id"],
                                               "data_types": {"id": "integer", "amount": "float"},
                                               "allowed_values": {"country": ["DE", "FR"]}, "unique": ["id"]}}


def _spec(pipeline_id: str, path: str) -> dict:
    return {"pipeline_id": pipeline_id, "data_sources": [{"id": "orders", "type": "csv", "path": path}],
            "transformations": [VALIDATION]}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, cleanops_database, dagster_instance):
    suffix = unique_id("c").split("-")[1]
    specs = {"header_only": _spec(f"header-only-{suffix}", "header_only.csv"),
             "no_files": _spec(f"no-files-{suffix}", "incoming/*.csv"),
             "orders": _spec(f"orders-{suffix}", "orders.csv")}
    root = tmp_path_factory.mktemp("staging_checks")
    (root / "pipelines").mkdir()
    (root / "pipelines" / "header_only.csv").write_text("id,amount,country\n")
    (root / "pipelines" / "orders.csv").write_text("id,amount,country\n1,10,DE\n2,20,FR\n3,30,DE\n")
    with prepared_workspace(root, list(specs.values())) as result:
        yield {"specs": specs, "result": result,
               "pipelines": {name: result.by_id(spec["pipeline_id"]) for name, spec in specs.items()}}


def _table(loaded) -> str:
    return "staging." + staging_asset_key(loaded.spec.slug, "orders").path[-1]


def _check_evaluations(instance, run_id: str) -> dict:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return {e.check_name: e for e in evaluations}


def _latest_metadata(instance, loaded) -> dict:
    event = instance.get_latest_materialization_event(staging_asset_key(loaded.spec.slug, "orders"))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


@pytest.mark.parametrize("case", ["header_only", "no_files"])
def test_empty_input_on_a_first_run_stages_an_empty_typed_table_and_passes_its_checks(
        workspace, case, warehouse, dagster_instance):
    loaded = workspace["pipelines"][case]
    outcome = run_pipeline(loaded.spec.pipeline_id, instance=dagster_instance)
    assert outcome.success
    table = _table(loaded)
    assert table_exists(warehouse, table)
    assert scalar(warehouse, f"SELECT count(*) FROM {table}") == 0
    types = {r["column_name"]: r["data_type"] for r in rows(
        warehouse, "SELECT column_name, data_type FROM information_schema.columns "
                   "WHERE table_schema = 'staging' AND table_name = :t", t=table.split(".")[1])}
    assert types["id"] == "bigint" and types["amount"] == "double precision" and types["country"] == "text"
    evaluations = _check_evaluations(dagster_instance, outcome.run_id)
    assert set(evaluations) == {"required_id", "allowed_values_country", "unique_id"}
    assert all(e.passed for e in evaluations.values())
    log = build_execution_log(warehouse, outcome.run_id)
    assert log["status"] == "success" and log["errors"] == []
    assert log["metrics"]["records_extracted"] == 0 and log["metrics"]["records_processed"] == 0
    assert _latest_metadata(dagster_instance, loaded)["dagster/row_count"] == 0


def test_row_count_is_the_tables_total_when_a_run_loads_nothing_new(workspace, dagster_instance):
    loaded = workspace["pipelines"]["orders"]
    assert run_pipeline(loaded.spec.pipeline_id, instance=dagster_instance).success
    first = _latest_metadata(dagster_instance, loaded)
    assert (first["dagster/row_count"], first["rows_staged_this_run"]) == (3, 3)
    assert run_pipeline(loaded.spec.pipeline_id, instance=dagster_instance).success  # the file is skipped
    second = _latest_metadata(dagster_instance, loaded)
    assert (second["dagster/row_count"], second["rows_staged_this_run"]) == (3, 0)


def test_one_ge_check_runs_on_its_own_against_the_current_table(workspace, warehouse, dagster_instance):
    from cleanops.definitions import build_definitions

    loaded = workspace["pipelines"]["orders"]
    if not table_exists(warehouse, _table(loaded)):
        assert run_pipeline(loaded.spec.pipeline_id, instance=dagster_instance).success
    key = staging_asset_key(loaded.spec.slug, "orders")
    check_key = dg.AssetCheckKey(key, "allowed_values_country")
    check_only = dg.define_asset_job("only_allowed_values_country", selection=dg.AssetSelection.checks(check_key))
    defs = dg.Definitions.merge(build_definitions(workspace["result"]), dg.Definitions(jobs=[check_only]))
    materializations_before = dagster_instance.get_latest_materialization_event(key).run_id
    result = defs.resolve_job_def("only_allowed_values_country").execute_in_process(instance=dagster_instance)
    assert result.success
    evaluations = _check_evaluations(dagster_instance, result.run_id)
    assert set(evaluations) == {"allowed_values_country"}  # only the selected rule ran
    evaluation = evaluations["allowed_values_country"]
    assert evaluation.passed
    assert evaluation.metadata["observed_value"].value == 0  # rows outside the allowed values
    assert evaluation.metadata["element_count"].value == 3
    assert dagster_instance.get_latest_materialization_event(key).run_id == materializations_before


def test_check_metadata_observed_value_is_filled(workspace, dagster_instance):
    loaded = workspace["pipelines"]["orders"]
    outcome = run_pipeline(loaded.spec.pipeline_id, instance=dagster_instance)
    evaluations = _check_evaluations(dagster_instance, outcome.run_id)
    assert {name: e.metadata["observed_value"].value for name, e in evaluations.items()} == {
        "required_id": 0, "allowed_values_country": 0, "unique_id": 0}


def test_a_postgresql_source_has_one_postgres_kind(workspace):
    from cleanops.pipelines.schema import SqlSource

    source = SqlSource(id="users", type="postgresql", connection="prod-db", query="SELECT 1")
    assert asset_kinds(source) == {"postgres"}
    asset = build_source_asset(workspace["pipelines"]["orders"], source)
    assert next(iter(asset.specs)).kinds == {"postgres"}
    assert asset_kinds(workspace["pipelines"]["orders"].spec.data_sources[0]) == {"postgres", "csv"}
