"""Staged batches: deleted only once a later batch exists and everything downstream was built from it."""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from cleanops.cleanup import plan, restore, service
from cleanops_tests.cleanup.helpers import options, table_policy
from cleanops_tests.conftest import unique_id


def _staging_table(warehouse, table: str, batches: dict[str, str]) -> None:
    """batches: batch id -> SQL interval relative to now for its load time."""
    with warehouse.begin() as conn:
        conn.execute(sa.text(f"""CREATE TABLE staging."{table}" (id integer, name text,
            _cleanops_load_id bigint NOT NULL, _cleanops_row_number bigint)"""))
        for batch, offset in batches.items():
            load_id = conn.scalar(sa.text("""INSERT INTO cleanops.staged_loads
                (staging_table, batch_id, pipeline_id, source_id, origin, loaded_at)
                VALUES (:table, :batch, 'p', 'src', 'file.csv', now() + CAST(:offset AS interval)) RETURNING load_id"""),
                {"table": table, "batch": batch, "offset": offset})
            conn.execute(sa.text(f"""INSERT INTO staging."{table}"
                SELECT i, 'name ' || i, :load, i FROM generate_series(1, 25) i"""), {"load": load_id})


def _batches(warehouse, table: str) -> list[str]:
    with warehouse.connect() as conn:
        return sorted(conn.scalars(sa.text(f'SELECT DISTINCT l.batch_id FROM staging."{table}" s '
                                           'JOIN cleanops.staged_loads l ON l.load_id = s._cleanops_load_id')))


def _defs(table: str):
    """An asset graph: staging/<table> feeding one downstream model."""
    staging = dg.AssetSpec(key=dg.AssetKey(["staging", table]))

    @dg.asset(key=dg.AssetKey(["marts", table]), deps=[staging])
    def model():
        return None

    return dg.Definitions(assets=[staging, model]), model


def test_batches_kept_until_downstream_is_built_from_a_later_batch(warehouse, dagster_instance):
    table = unique_id("stg").replace("-", "_")
    _staging_table(warehouse, table, {"a_old": "-40 days", "b_old": "-35 days", "c_next": "1 hour"})
    defs, model = _defs(table)
    dg.materialize([model], instance=dagster_instance)  # downstream built now: after b, before c
    data_type = table_policy(warehouse, "staged_batches", table)
    built_at = plan.downstream_built_at(defs, dagster_instance)
    dry = service.run_cleanup(warehouse, options(data_type, dry_run=True), downstream_built_at=built_at)
    assert [c["object"] for c in dry.candidates] == [f"staging.{table}#a_old"]
    assert "downstream" in dry.kept[0]["reason"]
    result = service.run_cleanup(warehouse, options(data_type, batch_size=10), downstream_built_at=built_at)
    assert result.status == "completed", result.to_dict()
    assert _batches(warehouse, table) == ["b_old", "c_next"]
    assert result.totals.batches == [10, 10, 5]  # 25 rows, bounded chunks of 10
    restore.restore(warehouse, result.cleanup_id, "test")
    assert _batches(warehouse, table) == ["a_old", "b_old", "c_next"]


def test_newest_batch_is_never_deleted(warehouse, dagster_instance):
    table = unique_id("stg").replace("-", "_")
    _staging_table(warehouse, table, {"only": "-400 days"})
    defs, _ = _defs(table)
    data_type = table_policy(warehouse, "staged_batches", table)
    result = service.run_cleanup(warehouse, options(data_type),
                                 downstream_built_at=plan.downstream_built_at(defs, dagster_instance))
    assert result.totals.planned == 0
    assert _batches(warehouse, table) == ["only"]


def test_never_built_downstream_blocks_every_batch(warehouse, dagster_instance):
    table = unique_id("stg").replace("-", "_")
    _staging_table(warehouse, table, {"a": "-90 days", "b": "-60 days", "c": "-45 days"})
    defs, _ = _defs(table)  # the model was never materialized
    data_type = table_policy(warehouse, "staged_batches", table)
    result = service.run_cleanup(warehouse, options(data_type),
                                 downstream_built_at=plan.downstream_built_at(defs, dagster_instance))
    assert result.totals.planned == 0
    assert _batches(warehouse, table) == ["a", "b", "c"]
