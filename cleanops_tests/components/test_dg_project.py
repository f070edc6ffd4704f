"""CleanOps as a dg project: `dg check defs` and `dg list defs` load the component tree and list
every pipeline's assets, checks, jobs, schedules and sensors; a bad pipeline file is left out."""

import shutil

import pytest

from cleanops import settings
from cleanops_tests.components.dg_cli import cleanops_project, summary
from cleanops_tests.conftest import write_pipeline

SHIPPED = {
    "assets": {
        "staging/user_data_etl_001__source_001": (),
        "staging/orders_csv_001__orders_export": (),
        "staging/orders_hourly_sql__shop_orders": (),
        "staging/clickstream_landing__clicks": (),
        "staging/weekly_user_summary__weekly_users": ("staging/user_data_etl_001__source_001",),
    },
    "jobs": {"user_data_etl_001", "orders_csv_001", "orders_hourly_sql", "clickstream_landing",
             "weekly_user_summary", "cleanup", "collect_metrics"},
    "schedules": {("user_data_etl_001__schedule", "0 2 * * *"), ("orders_csv_001__schedule", "0 3 * * *"),
                  ("orders_hourly_sql__schedule", "5 * * * *"), ("cleanup_daily", "0 2 * * *"),
                  ("collect_metrics_schedule", "*/5 * * * *")},
    "sensors": {"clickstream_landing__file_arrival", "weekly_user_summary__dependencies", "cleanup_emergency_disk",
                "cleanops_dead_run_workers", "cleanops_alerts"},
    "checks": {"staging/orders_csv_001__orders_export:required_order_id",
               "staging/orders_csv_001__orders_export:range_amount",
               "staging/clickstream_landing__clicks:unique_event_id"},
}


def test_dg_check_and_list_defs_show_every_shipped_example(tmp_path):
    checked = cleanops_project("check", "defs", tmp_path=tmp_path, pipelines_dir=settings.PROJECT_ROOT / "pipelines")
    assert checked.returncode == 0, checked.output
    assert "All definitions loaded successfully" in checked.output
    listed = cleanops_project("list", "defs", "--json", tmp_path=tmp_path,
                              pipelines_dir=settings.PROJECT_ROOT / "pipelines")
    assert listed.returncode == 0, listed.output
    found = summary(listed.json())
    assert {key: deps for key, deps in found["assets"].items() if key.startswith("staging/")} == SHIPPED["assets"]
    assert found["jobs"] == SHIPPED["jobs"]
    assert "cleanops_metrics" in found["assets"]
    assert found["schedules"] == SHIPPED["schedules"]
    assert found["sensors"] == SHIPPED["sensors"]
    assert SHIPPED["checks"] <= found["asset_checks"]


def test_a_bad_file_in_the_folder_is_left_out_and_the_rest_lists(tmp_path, pipelines_dir):
    source = {"id": "rows", "type": "csv", "path": "data/*.csv"}
    write_pipeline(pipelines_dir, {"pipeline_id": "up", "data_sources": [source],
                                   "schedule": {"type": "cron", "expression": "15 4 * * *", "timezone": "UTC"},
                                   "transformations": [{"step": 1, "type": "validation",
                                                        "config": {"required_fields": ["id"]}}]})
    write_pipeline(pipelines_dir, {"pipeline_id": "down", "data_sources": [{**source, "id": "more"}],
                                   "depends_on": ["up"]}, fmt="yaml")
    (pipelines_dir / "broken.json").write_text('{"pipeline_id": "broken", "data_sources": [')
    write_pipeline(pipelines_dir, {"pipeline_id": "misspelt", "data_sourcs": [source]})
    overlong = "p" * 60
    write_pipeline(pipelines_dir, {"pipeline_id": overlong, "data_sources": [source]})  # staging name > 63 chars

    checked = cleanops_project("check", "defs", tmp_path=tmp_path, pipelines_dir=pipelines_dir)
    assert checked.returncode == 0, checked.output
    assert "broken.json" in checked.output and "misspelt.json" in checked.output  # reported, not fatal
    listed = cleanops_project("list", "defs", "--json", tmp_path=tmp_path, pipelines_dir=pipelines_dir)
    assert listed.returncode == 0, listed.output
    found = summary(listed.json(), groups={"up", "down"})
    assert found["assets"] == {"staging/up__rows": (), "staging/down__more": ("staging/up__rows",)}
    assert found["jobs"] == {"up", "down"}
    assert found["schedules"] == {("up__schedule", "15 4 * * *")}
    assert found["sensors"] == {"down__dependencies"}
    assert "staging/up__rows:required_id" in found["asset_checks"]
    everything = summary(listed.json())
    assert everything["jobs"] == {"up", "down", "cleanup", "collect_metrics"}
    assert not any(overlong in job or "broken" in job or "misspelt" in job for job in everything["jobs"])


def test_dg_list_components_shows_cleanops_components(tmp_path):
    listed = cleanops_project("list", "components", "--json", tmp_path=tmp_path)
    assert listed.returncode == 0, listed.output
    keys = {entry["key"] for entry in listed.json()["items"]}
    assert {"cleanops.Pipeline", "cleanops.PipelineFiles"} <= keys


def test_import_cleanops_does_not_load_dagster():
    import subprocess
    import sys

    probe = "import sys, cleanops; print('dagster' in sys.modules); print(cleanops.Pipeline.__name__)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "Pipeline"]


@pytest.fixture(autouse=True)
def _no_stray_copies(tmp_path):
    yield
    shutil.rmtree(tmp_path / "dagster_home", ignore_errors=True)


def test_dg_launch_materializes_a_pipeline_asset(tmp_path, pipelines_dir, warehouse, dagster_instance):
    """`dg launch --assets` runs on the CleanOps instance (DAGSTER_HOME, as `cleanops env` sets it)."""
    import os
    import subprocess

    import sqlalchemy as sa

    from cleanops_tests.components.dg_cli import BIN
    from cleanops_tests.conftest import unique_id

    pipeline_id = unique_id("launched")
    (pipelines_dir / "data").mkdir()
    (pipelines_dir / "data" / "rows.csv").write_text("id,name\n1,a\n2,b\n3,c\n")
    write_pipeline(pipelines_dir, {"pipeline_id": pipeline_id, "data_sources": [
        {"id": "rows", "type": "csv", "path": "data/rows.csv"}]})
    table = f"{pipeline_id.replace('-', '_')}__rows"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(BIN.parent)}
    done = subprocess.run([str(BIN / "dg"), "launch", "--assets", f"staging/{table}"], cwd=settings.PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with warehouse.connect() as connection:
        assert connection.execute(sa.text(f'SELECT count(*) FROM staging."{table}"')).scalar() == 3
    import dagster as dg

    assert dagster_instance.get_latest_materialization_event(dg.AssetKey(["staging", table])) is not None
