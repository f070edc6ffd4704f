"""Running a pipeline's ingestion assets through Dagster in tests, and reading the results."""

import dagster as dg
import sqlalchemy as sa

from cleanops.ingestion.assets import build_source_asset
from cleanops.ingestion.stage import staging_table_name
from cleanops.warehouse import WarehouseResource


def materialize_pipeline(loaded, instance=None, full_refresh=False, raise_on_error=True):
    assets = [build_source_asset(loaded, source) for source in loaded.spec.data_sources]
    run_config = {"ops": {a.op.name: {"config": {"full_refresh": full_refresh}} for a in assets}}
    return dg.materialize(assets, instance=instance, run_config=run_config, raise_on_error=raise_on_error,
                          resources={"warehouse": WarehouseResource()})


def table_names(loaded, source_index=0):
    name = staging_table_name(loaded.spec.slug, loaded.spec.data_sources[source_index].id)
    return f'staging."{name}"', f'quarantine."{name}"'


def count(engine: sa.Engine, table: str, where: str = "TRUE") -> int:
    """Rows in `table`; a table that was never created is an error, not zero rows."""
    with engine.connect() as conn:
        if conn.scalar(sa.text("SELECT to_regclass(:t)"), {"t": table}) is None:
            raise AssertionError(f"table {table} does not exist")
        return conn.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE {where}"))


def holds_no_rows(engine: sa.Engine, *tables: str) -> bool:
    """Nothing was written to any of `tables`: each is absent (a load that rolled back before
    creating it) or empty. For tests of refusals; `count` is for tables a load must create."""
    with engine.connect() as conn:
        return all(conn.scalar(sa.text("SELECT to_regclass(:t)"), {"t": table}) is None
                   or conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) == 0 for table in tables)


def codes(engine: sa.Engine, quarantine: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(f"SELECT error_code, count(*) FROM {quarantine} GROUP BY 1")).all())


def materialization_metadata(result, loaded, source_index=0) -> dict:
    from cleanops.ingestion.assets import staging_asset_key

    key = staging_asset_key(loaded.spec.slug, loaded.spec.data_sources[source_index].id)
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}
