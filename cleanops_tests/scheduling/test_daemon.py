"""Scheduling on a real `dagster-daemon`: file sensors, priorities, pools, dependencies, pause, cron.

The module shares one daemon (see conftest); each test uses its own pipelines, and the
cron test comes last so that the minute it may wait for overlaps the tests before it.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.scheduler.instigation import InstigatorStatus

from cleanops.pipelines.loader import load_pipelines
from cleanops.pipelines.schema import to_identifier
from cleanops.scheduling import control
from cleanops_tests.scheduling.conftest import CSV_HEADER, PIPELINE_IDS, kolkata_hours

pytestmark = pytest.mark.timeout(300)

SENSOR_INTERVAL = 5
FILE_SENSOR = f"{to_identifier(PIPELINE_IDS['files'])}__file_arrival"
TICKS_TIMEOUT = 10 * SENSOR_INTERVAL


def drop_file(folder: Path, name: str, event_ids: list[int]) -> Path:
    """Land a CSV the way uploaders should: write under a temporary name, then rename."""
    body = CSV_HEADER + "".join(f"{i},2024-01-01T00:00:00\n" for i in event_ids)
    partial = folder / f".{name}.part"
    partial.write_text(body)
    target = folder / name
    partial.rename(target)
    return target


def files_of(record: dg.RunRecord) -> list[str]:
    return json.loads(record.dagster_run.tags.get("cleanops/files", "[]"))


def file_runs(daemon, name: str) -> list[dg.RunRecord]:
    return [r for r in daemon.runs_of(PIPELINE_IDS["files"]) if name in files_of(r)]


def test_a_landed_file_starts_exactly_one_run_and_moves_to_processed(on_daemon):
    landed_at = time.time()
    path = drop_file(on_daemon.landing, "single.csv", [1, 2, 3])

    runs = on_daemon.wait_for(lambda: file_runs(on_daemon, "single.csv"), 3 * SENSOR_INTERVAL + 10,
                              "a run for single.csv")
    assert runs[0].create_timestamp.timestamp() - landed_at < 2 * SENSOR_INTERVAL + 5
    on_daemon.wait_for(lambda: file_runs(on_daemon, "single.csv")[0].dagster_run.is_finished, 90, "the run to end")
    on_daemon.wait_for_ticks(FILE_SENSOR, 2, after=time.time(), timeout=TICKS_TIMEOUT)  # looked twice more

    runs = file_runs(on_daemon, "single.csv")
    assert len(runs) == 1
    assert runs[0].dagster_run.status == dg.DagsterRunStatus.SUCCESS
    assert not path.exists()
    assert (on_daemon.landing / "processed" / "single.csv").exists()


def test_the_same_file_dropped_again_does_not_run_again(on_daemon):
    drop_file(on_daemon.landing, "repeat.csv", [10, 11])
    on_daemon.wait_for(lambda: [r for r in file_runs(on_daemon, "repeat.csv") if r.dagster_run.is_finished],
                       90, "the first run of repeat.csv")
    assert (on_daemon.landing / "processed" / "repeat.csv").exists()

    dropped_again_at = time.time()
    again = drop_file(on_daemon.landing, "repeat.csv", [10, 11])
    on_daemon.wait_for_ticks(FILE_SENSOR, 3, after=dropped_again_at, timeout=TICKS_TIMEOUT)

    assert len(file_runs(on_daemon, "repeat.csv")) == 1
    assert again.exists()  # left for a person to look at, never loaded twice


def test_a_burst_of_twenty_files_is_loaded_once_each(on_daemon, warehouse):
    names = [f"burst-{n:02d}.csv" for n in range(20)]
    for n, name in enumerate(names):
        drop_file(on_daemon.landing, name, [1000 + 10 * n, 1001 + 10 * n])

    def all_finished():
        runs = {r.dagster_run.run_id: r for name in names for r in file_runs(on_daemon, name)}
        covered = sorted(name for r in runs.values() for name in files_of(r))
        done = covered == names and all(r.dagster_run.is_finished for r in runs.values())
        return list(runs.values()) if done else None

    runs = on_daemon.wait_for(all_finished, 150, "runs covering all 20 files to finish")
    on_daemon.wait_for_ticks(FILE_SENSOR, 1, after=time.time(), timeout=TICKS_TIMEOUT)

    assert sorted(n for r in runs for n in files_of(r)) == names  # each file in exactly one run
    assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    assert all((on_daemon.landing / "processed" / name).exists() for name in names)
    assert not any((on_daemon.landing / name).exists() for name in names)
    run_ids = [r.dagster_run.run_id for r in runs]
    with warehouse.connect() as conn:
        loaded = conn.execute(sa.text(
            "SELECT path, run_id FROM cleanops.loaded_files WHERE pipeline_id = :p AND run_id = ANY(:runs)"),
            {"p": PIPELINE_IDS["files"], "runs": run_ids}).all()
        table = f"staging.{to_identifier(PIPELINE_IDS['files'])}__events"
        staged = conn.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE event_id::int >= 1000"))
    assert sorted(Path(path).name for path, _ in loaded) == names
    assert staged == 40


def _pipeline(pipeline_id: str):
    return load_pipelines().by_id(pipeline_id)


def test_a_queued_critical_run_starts_before_earlier_low_ones(on_daemon):
    """Runs writing one table wait for each other in the queue; the most urgent goes first."""
    instance = on_daemon.instance
    low = _pipeline(PIPELINE_IDS["low"])
    *lows, urgent = control.submit_runs(instance, [(low, None)] * 3 + [(low, control.run_tags_for("critical"))])
    still_queued = [run.run_id for run in lows
                    if instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.QUEUED]
    assert still_queued, "every low run had started already: nothing to overtake"

    on_daemon.finished_runs(PIPELINE_IDS["low"], 4, 150)
    started = {record.dagster_run.run_id: record.start_time
               for record in instance.get_run_records(dg.RunsFilter(run_ids=[*still_queued, urgent.run_id]))}
    assert urgent.tags["dagster/priority"] == "2" and lows[0].tags["dagster/priority"] == "-1"
    assert all(started[urgent.run_id] < started[run_id] for run_id in still_queued)


def test_runs_writing_one_table_never_overlap(on_daemon):
    instance = on_daemon.instance
    pipeline = _pipeline(PIPELINE_IDS["shared-a"])
    control.submit_runs(instance, [(pipeline, None)] * 3)

    records = on_daemon.finished_runs(PIPELINE_IDS["shared-a"], 3, 150)
    spans = sorted((r.start_time, r.end_time) for r in records)
    assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
    assert {r.dagster_run.tags["cleanops/destination"] for r in records} == {f"analytics-dw.a_{PIPELINE_IDS['shared-a'][-6:]}"}
    for (_, first_end), (second_start, _) in zip(spans, spans[1:]):
        assert first_end <= second_start


def test_downstream_runs_after_upstream_succeeds_and_not_after_it_fails(on_daemon):
    upstream, downstream = PIPELINE_IDS["upstream"], PIPELINE_IDS["downstream"]
    control.trigger_run(upstream, instance=on_daemon.instance)  # upstream.csv is missing: this run fails
    failed = on_daemon.finished_runs(upstream, 1, 90)[0]
    assert failed.dagster_run.status == dg.DagsterRunStatus.FAILURE
    dependency_sensor = f"{to_identifier(downstream)}__dependencies"
    on_daemon.wait_for_ticks(dependency_sensor, 3, after=failed.end_time, timeout=TICKS_TIMEOUT)
    assert on_daemon.runs_of(downstream) == []

    (on_daemon.pipelines_dir / "upstream.csv").write_text(CSV_HEADER + "7,2024-01-02T00:00:00\n")
    control.trigger_run(upstream, instance=on_daemon.instance)
    succeeded = [r for r in on_daemon.finished_runs(upstream, 2, 90)
                 if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS]
    assert len(succeeded) == 1

    down = on_daemon.finished_runs(downstream, 1, 90)
    assert len(down) == 1
    assert down[0].dagster_run.status == dg.DagsterRunStatus.SUCCESS
    assert down[0].dagster_run.tags["cleanops/trigger"] == "depends_on"
    assert down[0].start_time >= succeeded[0].end_time


def _state(instance, pipeline_id: str, name: str) -> str:
    row = next(r for r in control.schedule_rows(instance) if r.pipeline_id == pipeline_id)
    return row.instigators[name]


def test_pause_stops_sensors_and_resume_restarts_them(on_daemon):
    instance = on_daemon.instance
    files_id = PIPELINE_IDS["files"]
    sensor = f"{to_identifier(files_id)}__file_arrival"
    try:
        changes = control.set_running(files_id, False, instance)
        assert [(c.name, c.status) for c in changes] == [(sensor, "stopped")]
        assert control.stored_statuses(instance)[sensor] == InstigatorStatus.STOPPED
        assert _state(instance, files_id, sensor) == "stopped"

        paused_at = time.time()
        drop_file(on_daemon.landing, "while-paused.csv", [5000])
        # the daemon keeps evaluating the other sensors, never the paused one
        on_daemon.wait_for_ticks(f"{to_identifier(PIPELINE_IDS['downstream'])}__dependencies", 3,
                                 after=paused_at, timeout=TICKS_TIMEOUT)
        assert on_daemon.finished_ticks(sensor, after=paused_at) == []
        assert file_runs(on_daemon, "while-paused.csv") == []
    finally:
        control.set_running(files_id, True, instance)

    assert _state(instance, files_id, sensor) == "running"
    runs = on_daemon.wait_for(lambda: file_runs(on_daemon, "while-paused.csv"), 4 * SENSOR_INTERVAL + 10,
                              "a run once resumed")
    assert len(runs) == 1


def test_a_disabled_cron_schedule_stays_idle_until_resumed_then_fires_and_pauses(on_daemon):
    """Every minute of Kolkata's current hour, `enabled: false`: no run while the daemon has been
    up for minutes; once resumed it fires at the next minute boundary (at most about 60 s)."""
    instance, cron_id = on_daemon.instance, PIPELINE_IDS["cron"]
    schedule = f"{to_identifier(cron_id)}__schedule"
    assert _state(instance, cron_id, schedule) == "stopped"
    assert on_daemon.runs_of(cron_id) == []

    try:
        control.set_running(cron_id, True, instance)
        assert _state(instance, cron_id, schedule) == "running"
        runs = on_daemon.wait_for(lambda: on_daemon.runs_of(cron_id), 90, "the schedule's first run", poll=1)
    finally:
        control.set_running(cron_id, False, instance)
    assert control.stored_statuses(instance)[schedule] == InstigatorStatus.STOPPED

    run = runs[-1].dagster_run
    assert run.tags["dagster/schedule_name"] == schedule
    assert run.tags["cleanops/trigger"] == "schedule"
    scheduled = dt.datetime.fromisoformat(run.tags[".dagster/scheduled_execution_time"])
    in_kolkata = scheduled.astimezone(ZoneInfo("Asia/Kolkata"))
    assert scheduled.second == 0 and in_kolkata.hour in kolkata_hours()
    assert scheduled.astimezone(dt.timezone.utc).hour not in kolkata_hours()
    finished = on_daemon.finished_runs(cron_id, 1, 90)
    assert finished[0].dagster_run.status == dg.DagsterRunStatus.SUCCESS
