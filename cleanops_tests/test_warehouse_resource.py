"""`WarehouseResource`: engines made on first use, one per database for the life of an instance,
disposed at teardown; the code location binds one as `warehouse` without connecting anywhere."""

import dagster as dg

from cleanops.pipelines.schema import PipelineSpec
from cleanops.warehouse import RESOURCE_KEY, WarehouseResource

DESTINATION_URL = "postgresql+psycopg://someone@db.invalid:5432/their_dw"


def _spec(connection: str) -> PipelineSpec:
    return PipelineSpec.model_validate({
        "pipeline_id": "dw-owner", "data_sources": [{"id": "rows", "type": "csv", "path": "rows.csv"}],
        "destinations": [{"type": "data_warehouse", "connection": connection, "table": "marts.rows"}]})


def test_destination_engines_are_made_lazily_and_cached_per_instance(monkeypatch):
    monkeypatch.setenv("CLEANOPS_CONN_THEIR_DW", DESTINATION_URL)
    warehouse = WarehouseResource()
    assert warehouse._engines == {}  # constructing one connects nowhere
    engine = warehouse.engine_for(_spec("their-dw"))
    assert engine.url.database == "their_dw" and warehouse.engine_for(_spec("their-dw")) is engine
    assert WarehouseResource().engine_for(_spec("their-dw")) is not engine  # each instance owns its own
    warehouse.dispose()
    assert warehouse._engines == {}
    assert warehouse.engine_for(_spec("their-dw")) is not engine


def test_teardown_after_execution_disposes_the_engines(monkeypatch):
    monkeypatch.setenv("CLEANOPS_CONN_THEIR_DW", DESTINATION_URL)
    seen = {}

    @dg.op
    def use(warehouse: WarehouseResource) -> None:
        seen["resource"] = warehouse
        warehouse.engine_for(_spec("their-dw"))
        assert len(warehouse._engines) == 1

    @dg.job(resource_defs={RESOURCE_KEY: WarehouseResource()})
    def job():
        use()

    assert job.execute_in_process().success
    assert seen["resource"]._engines == {}


def test_the_code_location_binds_one_warehouse_for_every_area(tmp_path, monkeypatch):
    from cleanops.definitions import build_definitions

    monkeypatch.setenv("CLEANOPS_HOME", str(tmp_path / "home"))
    defs = build_definitions()
    assert isinstance(defs.resources[RESOURCE_KEY], WarehouseResource)
    for job in defs.get_repository_def().get_all_jobs():
        assert RESOURCE_KEY in job.resource_defs, job.name
    assert not (tmp_path / "home").exists()  # loading started no server and wrote nothing
