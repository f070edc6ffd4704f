"""Scheduling definitions without a daemon: schema, policy, sensors, schedules, automation."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from cleanops.definitions import build_definitions
from cleanops.pipelines.loader import load_file
from cleanops.pipelines.schema import PipelineSpec
from cleanops.scheduling import control, policy
from cleanops.scheduling.sensors import build_file_arrival_sensor, build_new_rows_sensor
from cleanops_tests.conftest import unique_id

# The seed as shipped (byte-identical to the original: cleanops_tests/pipelines/test_pipeline_files.py).
SEED_SAMPLE = Path(__file__).resolve().parents[2] / "pipelines" / "user_data_etl.json"


def file_spec(pipeline_id: str, **extra) -> dict:
    return {"pipeline_id": pipeline_id, "data_sources": [{"id": "events", "type": "csv", "path": "landing/*.csv"}],
            **extra}


def landing_spec(pipeline_id: str, **trigger) -> dict:
    return file_spec(pipeline_id, schedule={"type": "event", "triggers": [
        {"type": "file_arrival", "interval_seconds": 5, **trigger}]})


# --- schema ------------------------------------------------------------------------------

def test_the_seed_sample_loads_unmodified():
    loaded, errors = load_file(SEED_SAMPLE)
    assert errors == []
    assert loaded.spec.schedule.expression == "0 2 * * *" and loaded.spec.schedule.timezone == "UTC"


@pytest.mark.parametrize("schedule, message", [
    ({"type": "cron", "expression": "61 * * * *"}, "not a valid cron expression"),
    ({"type": "cron"}, "needs an expression"),
    ({"type": "cron", "expression": "0 2 * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"type": "event"}, "at least one trigger"),
    ({"type": "event", "triggers": [{"type": "file_arrival", "interval_seconds": 1}]}, "greater than or equal to 5"),
    ({"type": "event", "triggers": [{"type": "webhook"}]}, "does not match any of the expected tags"),
    ({"type": "event", "triggers": [{"type": "new_rows", "connection": "db"}]}, "Field required"),
])
def test_bad_schedules_are_refused_with_a_reason(schedule, message):
    with pytest.raises(ValueError, match=message):
        PipelineSpec.model_validate(file_spec("p", schedule=schedule))


def test_resources_are_typed_and_a_pipeline_cannot_depend_on_itself():
    with pytest.raises(ValueError, match="max_concurrent"):
        PipelineSpec.model_validate(file_spec("p", resources={"max_concurrent": 0}))
    with pytest.raises(ValueError, match="cannot depend on itself"):
        PipelineSpec.model_validate(file_spec("p", depends_on=["p"]))


# --- policy ------------------------------------------------------------------------------

def test_priorities_become_ordered_run_tags_and_overdue_windows():
    specs = {level: PipelineSpec.model_validate(file_spec(f"p-{level}", priority=level))
             for level in ("critical", "high", "medium", "low")}
    values = [int(policy.run_tags(specs[level])["dagster/priority"]) for level in ("critical", "high", "medium", "low")]
    assert values == sorted(values, reverse=True) and len(set(values)) == 4
    assert policy.overdue_window(specs["critical"]) == dt.timedelta(hours=2)
    assert policy.overdue_window(specs["high"]) == dt.timedelta(hours=8)
    assert policy.overdue_window(specs["medium"]) == dt.timedelta(hours=24)
    assert policy.overdue_window(specs["low"]) > dt.timedelta(hours=24)


def test_a_weekly_pipeline_is_not_overdue_between_its_runs():
    spec = PipelineSpec.model_validate(file_spec("w", schedule={"type": "cron", "expression": "0 1 * * 1"}))
    assert policy.overdue_window(spec) == dt.timedelta(days=7) + dt.timedelta(hours=24)


def test_destinations_resources_and_memory_shape_tags_pools_and_chunks():
    destination = [{"type": "data_warehouse", "connection": "dw", "table": "marts.Orders"}]
    spec = PipelineSpec.model_validate(file_spec("p", destinations=destination,
                                                 resources={"max_concurrent": 2, "memory_mb": 64}))
    tags = policy.run_tags(spec)
    assert tags["cleanops/destination"] == "dw.marts.orders"
    assert tags["cleanops/max_concurrent_2"] == "p"
    assert policy.pool_name(spec) == "destination__dw_marts_orders"
    assert policy.sql_chunk_size(spec, 50_000) == 64 * policy.ROWS_PER_MB
    named = PipelineSpec.model_validate(file_spec("q", destinations=destination, resources={"pool": "nightly"}))
    assert policy.pool_name(named) == "nightly"


def test_job_and_asset_carry_priority_pool_and_freshness(make_pipeline):
    destination = [{"type": "data_warehouse", "connection": "dw", "table": "shared"}]
    pipeline = make_pipeline(file_spec(unique_id("tagged"), priority="critical", destinations=destination))
    defs = build_definitions()
    job = defs.resolve_job_def(pipeline.spec.slug)
    assert job.tags["dagster/priority"] == "2"
    asset = defs.resolve_assets_def(dg.AssetKey(["staging", f"{pipeline.spec.slug}__events"]))
    assert asset.op.pool == "destination__dw_shared"
    assert asset.specs_by_key[asset.key].freshness_policy is not None


# --- schedules ---------------------------------------------------------------------------

def test_a_cron_schedule_runs_in_the_pipeline_time_zone(make_pipeline):
    pipeline = make_pipeline(file_spec(unique_id("berlin"), schedule={
        "type": "cron", "expression": "0 3 * * *", "timezone": "Europe/Berlin"}))
    schedule = build_definitions().get_repository_def().get_schedule_def(f"{pipeline.spec.slug}__schedule")
    assert schedule.execution_timezone == "Europe/Berlin"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    ticks = control.next_runs(pipeline, 3, after=dt.datetime(2026, 3, 27, 12, tzinfo=dt.timezone.utc).timestamp())
    # 03:00 Berlin across the change to summer time: 02:00 UTC, then 01:00 UTC
    assert [t.astimezone(dt.timezone.utc).hour for t in ticks] == [2, 1, 1]
    context = dg.build_schedule_context(scheduled_execution_time=ticks[0])
    assert schedule.evaluate_tick(context).run_requests


def test_disabled_pipelines_load_with_stopped_schedules_and_sensors(make_pipeline):
    off = make_pipeline(file_spec(unique_id("off"), schedule={"type": "cron", "expression": "0 * * * *",
                                                              "enabled": False}))
    paused = make_pipeline(landing_spec(unique_id("paused")) | {"status": "paused"})
    defs = build_definitions().get_repository_def()
    assert defs.get_schedule_def(f"{off.spec.slug}__schedule").default_status == dg.DefaultScheduleStatus.STOPPED
    assert defs.get_sensor_def(f"{paused.spec.slug}__file_arrival").default_status == dg.DefaultSensorStatus.STOPPED


# --- file arrival sensor -----------------------------------------------------------------

def _land(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(body)
    old = time.time() - 5  # settled: not being written any more
    import os

    os.utime(path, (old, old))
    return path


def _tick(sensor, instance, cursor=None):
    from cleanops.warehouse import WarehouseResource

    with dg.build_sensor_context(instance=instance, cursor=cursor,
                                 resources={"warehouse": WarehouseResource()}) as context:
        return sensor.evaluate_tick(context)


def test_file_sensor_requests_each_file_once_via_its_cursor(make_pipeline, dagster_instance, pipelines_dir):
    pipeline = make_pipeline(landing_spec(unique_id("landing"), max_files_per_run=2))
    sensor = build_file_arrival_sensor(pipeline, pipeline.spec.schedule.triggers[0], 0)
    landing = pipelines_dir / "landing"
    for n in range(3):
        _land(landing, f"a{n}.csv", f"event_id\n{n}\n")
    _land(landing, ".upload.csv.part", "event_id\n9\n")
    _land(landing, "notes.txt", "not a csv")

    first = _tick(sensor, dagster_instance)
    files = [json.loads(r.tags["cleanops/files"]) for r in first.run_requests]
    assert files == [["a0.csv", "a1.csv"], ["a2.csv"]]
    assert first.run_requests[1].run_config["ops"][f"staging__{pipeline.spec.slug}__events"]["config"]["files"] == [
        str(landing / "a2.csv")]

    second = _tick(sensor, dagster_instance, first.cursor)
    assert second.run_requests == []
    _land(landing, "copy-of-a0.csv", "event_id\n0\n")  # same content, other name, a0 still waiting
    _land(landing, "a3.csv", "event_id\n3\n")
    third = _tick(sensor, dagster_instance, second.cursor)
    assert [json.loads(r.tags["cleanops/files"]) for r in third.run_requests] == [["a3.csv"]]


# --- new rows sensor ---------------------------------------------------------------------

def test_new_rows_sensor_runs_when_the_watermark_moves(make_pipeline, dagster_instance, warehouse, monkeypatch):
    table = f"public.{unique_id('users').replace('-', '_')}"
    with warehouse.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (id int, updated_at timestamptz)"))
    monkeypatch.setenv("CLEANOPS_CONN_SOURCE_DB", warehouse.url.render_as_string(hide_password=False))
    pipeline = make_pipeline(file_spec(unique_id("rows"), schedule={"type": "event", "triggers": [
        {"type": "new_rows", "connection": "source-db", "watermark_query": f"SELECT max(updated_at) FROM {table}",
         "interval_seconds": 5}]}))
    sensor = build_new_rows_sensor(pipeline, pipeline.spec.schedule.triggers[0], 0)

    empty = _tick(sensor, dagster_instance)
    assert empty.run_requests == [] and "no value" in empty.skip_message
    with warehouse.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (1, '2024-01-01T00:00:00Z')"))
    first = _tick(sensor, dagster_instance, empty.cursor)
    assert len(first.run_requests) == 1
    assert _tick(sensor, dagster_instance, first.cursor).run_requests == []
    with warehouse.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (2, '2024-01-02T00:00:00Z')"))
    moved = _tick(sensor, dagster_instance, first.cursor)
    assert len(moved.run_requests) == 1 and moved.run_requests[0].run_key != first.run_requests[0].run_key


def test_new_rows_sensor_skips_with_the_variable_to_set(make_pipeline, dagster_instance):
    pipeline = make_pipeline(file_spec(unique_id("noconn"), schedule={"type": "event", "triggers": [
        {"type": "new_rows", "connection": "nowhere", "watermark_query": "SELECT 1"}]}))
    result = _tick(build_new_rows_sensor(pipeline, pipeline.spec.schedule.triggers[0], 0), dagster_instance)
    assert "CLEANOPS_CONN_NOWHERE" in result.skip_message


# --- dependencies ------------------------------------------------------------------------

def test_depends_on_wires_assets_and_an_automation_sensor(make_pipeline):
    upstream = make_pipeline(file_spec(unique_id("up")))
    downstream = make_pipeline(file_spec(unique_id("down"), depends_on=[upstream.spec.pipeline_id]))
    defs = build_definitions()
    asset = defs.resolve_assets_def(dg.AssetKey(["staging", f"{downstream.spec.slug}__events"]))
    assert dg.AssetKey(["staging", f"{upstream.spec.slug}__events"]) in asset.dependency_keys
    assert asset.specs_by_key[asset.key].automation_condition is not None
    sensor = defs.get_repository_def().get_sensor_def(f"{downstream.spec.slug}__dependencies")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


# --- CLI ---------------------------------------------------------------------------------

def test_schedules_cli_lists_triggers_and_prints_next_runs_in_the_time_zone(make_pipeline, dagster_instance):
    from click.testing import CliRunner

    from cleanops.cli.main import cli

    cron = make_pipeline(file_spec(unique_id("tokyo"), schedule={"type": "cron", "expression": "30 9 * * 1-5",
                                                                  "timezone": "Asia/Tokyo"}))
    event = make_pipeline(landing_spec(unique_id("drop")))
    runner = CliRunner()

    listed = runner.invoke(cli, ["schedules", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {row["pipeline_id"]: row for row in json.loads(listed.output)}
    assert rows[cron.spec.pipeline_id]["instigators"] == {f"{cron.spec.slug}__schedule": "running"}
    assert rows[event.spec.pipeline_id]["kind"] == "event"

    upcoming = runner.invoke(cli, ["schedules", "next", cron.spec.pipeline_id, "-n", "5"])
    assert upcoming.exit_code == 0, upcoming.output
    lines = upcoming.output.strip().splitlines()
    assert len(lines) == 5 and all(line.startswith(tuple("0123456789")) and "T09:30:00+09:00" in line for line in lines)
    assert all(dt.datetime.fromisoformat(line.split()[0]).weekday() < 5 for line in lines)

    refused = runner.invoke(cli, ["schedules", "next", event.spec.pipeline_id])
    assert refused.exit_code != 0 and "no cron schedule" in refused.output


def test_a_pipeline_without_success_in_its_window_is_overdue(make_pipeline, dagster_instance):
    from cleanops.scheduling.launch import run_pipeline
    from cleanops.scheduling import overdue

    scheduled = make_pipeline(file_spec(unique_id("late"), priority="critical",
                                        schedule={"type": "cron", "expression": "0 * * * *"}))
    manual = make_pipeline(file_spec(unique_id("manual")))
    assert overdue.freshness(dagster_instance, scheduled).overdue  # never succeeded
    assert not overdue.freshness(dagster_instance, manual).overdue  # runs only when asked

    assert run_pipeline(scheduled.spec.pipeline_id, instance=dagster_instance).success
    fresh = overdue.freshness(dagster_instance, scheduled)
    assert not fresh.overdue and fresh.window == dt.timedelta(hours=2)
    later = fresh.last_success + dt.timedelta(hours=2, minutes=1)
    assert overdue.freshness(dagster_instance, scheduled, now=later).overdue


def test_trigger_cli_queues_a_run_with_the_priority_asked_for(make_pipeline, dagster_instance):
    from click.testing import CliRunner

    from cleanops.cli.main import cli

    pipeline = make_pipeline(file_spec(unique_id("ext"), priority="low",
                                       schedule={"type": "event", "triggers": [{"type": "external"}]}))
    result = CliRunner().invoke(cli, ["trigger", pipeline.spec.pipeline_id, "--priority", "critical"])
    assert result.exit_code == 0, result.output
    run_id = result.output.split()[2]
    try:
        run = dagster_instance.get_run_by_id(run_id)
        assert run.status == dg.DagsterRunStatus.QUEUED  # no daemon here: it waits in the queue
        assert run.job_name == pipeline.spec.slug
        assert run.tags["dagster/priority"] == "2" and run.tags["cleanops/trigger"] == "external"
        assert run.tags["cleanops/pipeline"] == pipeline.spec.pipeline_id
    finally:
        dagster_instance.delete_run(run_id)

    unknown = CliRunner().invoke(cli, ["trigger", "no-such-pipeline"])
    assert unknown.exit_code != 0 and "no pipeline 'no-such-pipeline'" in unknown.output


def test_dependency_condition_requests_downstream_only_after_upstream_success(make_pipeline, pipelines_dir):
    upstream = make_pipeline({"pipeline_id": unique_id("up"),
                              "data_sources": [{"id": "rows", "type": "csv", "path": "up.csv"}]})
    downstream = make_pipeline(file_spec(unique_id("down"), depends_on=[upstream.spec.pipeline_id]))
    defs = build_definitions()
    down_key = dg.AssetKey(["staging", f"{downstream.spec.slug}__events"])
    up_job = defs.resolve_job_def(upstream.spec.slug)

    with dg.instance_for_test() as instance:
        def requested(cursor):
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
            return down_key in {r.key for r in result.results if r.true_subset.size}, result.cursor

        asked, cursor = requested(None)
        assert not asked
        assert not up_job.execute_in_process(instance=instance, raise_on_error=False).success  # up.csv missing
        asked, cursor = requested(cursor)
        assert not asked

        (pipelines_dir / "up.csv").write_text("id\n1\n")
        assert up_job.execute_in_process(instance=instance).success
        asked, cursor = requested(cursor)
        assert asked
        asked, cursor = requested(cursor)
        assert not asked  # handled once, not again until the upstream updates again
