"""The names derived from a pipeline file are the names Dagster and dbt end up using."""

import dagster as dg
import pytest

from cleanops.ingestion.assets import IngestConfig, build_source_asset
from cleanops.pipelines import naming
from cleanops.pipelines.loader import LoadedPipeline
from cleanops.pipelines.schema import Destination, PipelineSpec
from cleanops.warehouse import WarehouseResource


def _pipeline(tmp_path, pipeline_id="naming-check-01", source_id="orders-export") -> LoadedPipeline:
    spec = PipelineSpec.model_validate({"pipeline_id": pipeline_id,
                                        "data_sources": [{"id": source_id, "type": "csv", "path": "x.csv"}]})
    return LoadedPipeline(spec, tmp_path / "p.yaml")


def test_run_config_from_naming_is_valid_for_the_built_ingestion_asset(tmp_path):
    pipeline = _pipeline(tmp_path)
    source = pipeline.spec.data_sources[0]
    asset = build_source_asset(pipeline, source)
    assert asset.key == naming.staging_asset_key(pipeline.spec.slug, source.id)
    assert asset.node_def.name == naming.staging_op_name(pipeline.spec.slug, source.id)
    job = dg.Definitions(assets=[asset], jobs=[dg.define_asset_job("j", selection=[asset.key])],
                         resources={"warehouse": WarehouseResource()}).resolve_job_def("j")
    for config in ({"files": ["/tmp/a.csv"]}, {"full_refresh": True}):
        IngestConfig(**config)
        assert dg.validate_run_config(job, naming.ingestion_run_config(pipeline.spec.slug, {source.id: config}))
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(job, naming.ingestion_run_config(pipeline.spec.slug, {"other-source": {}}))


@pytest.mark.parametrize(("written", "schema", "table"), [
    ("orders", "marts", "orders"), ("reporting.orders", "reporting", "orders"), ("Marts.Orders", "Marts", "Orders"),
])
def test_destination_schema_and_table_split_the_written_name(written, schema, table):
    destination = Destination(connection="w", table=written)
    assert (destination.schema_name, destination.table_name) == (schema, table)
    assert destination.relation == f"{schema}.{table}"
    assert destination.table == written
    assert naming.destination_asset_key(written) == dg.AssetKey([schema, table])


def test_dbt_model_names_fit_postgresql_and_stay_distinct():
    slug = "p" * 60
    names = {naming.destination_model_name(slug, "reporting.orders"), naming.destination_model_name(slug, "orders2"),
             naming.step_model_name(slug, 1, "cleansing"), naming.step_model_name(slug, 2, "cleansing")}
    assert len(names) == 4 and all(len(name) <= naming.MAX_SQL_NAME for name in names)
    assert naming.destination_model_name("short", "reporting.orders") == "short__orders"
    assert naming.step_model_name("short", 3, "aggregation") == "short__s03_aggregation"


def test_staging_table_name_refuses_names_postgresql_would_truncate():
    assert naming.staging_table_name("a" * 47, "b" * 14) == "a" * 47 + "__" + "b" * 14
    with pytest.raises(ValueError, match="longer than PostgreSQL's 63"):
        naming.staging_table_name("a" * 47, "b" * 15)
