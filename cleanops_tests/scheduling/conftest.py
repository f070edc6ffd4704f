"""A real `dagster-daemon` for the scheduling tests, on the session's PostgreSQL instance.

The daemon loads the code location once, so every pipeline the daemon tests need is
written into one folder before it starts (`DAEMON_PIPELINES`). Tests then wait on run
records with bounded polling.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import TickStatus

from cleanops import settings
from cleanops.db.connection import render
from cleanops.sources.sql import connection_variable
from cleanops.pipelines.schema import to_identifier

SUFFIX = uuid.uuid4().hex[:6]
PIPELINE_IDS = {name: f"{name}-{SUFFIX}" for name in
                ("files", "cron", "low", "shared-a", "upstream", "downstream",
                 "monitored")}
CSV_HEADER = "event_id,occurred_at\n"
# The run monitoring test's source: a PostgreSQL function (created by that test) on the warehouse.
MONITORED_CONNECTION = "monitored-db"
MONITORED_FUNCTION = f"slow_once_{SUFFIX}"


def _file_pipeline(pipeline_id: str, path: str, **extra) -> dict:
    """No transformations: quality checks and dbt models would add minutes of steps to what
    these tests measure (the trigger), not change it."""
    return {"pipeline_id": pipeline_id, "data_sources": [{"id": "events", "type": "csv", "path": path}], **extra}


def kolkata_hours() -> tuple[int, int]:
    """This hour and the next one in Asia/Kolkata (UTC+05:30: never the current UTC hour)."""
    hour = dt.datetime.now(ZoneInfo("Asia/Kolkata")).hour
    return hour, (hour + 1) % 24


def kolkata_cron() -> str:
    """Every minute, but only during Kolkata's current and next hour: read in UTC it would
    not fire for hours, so a run proves the schedule uses the pipeline's time zone."""
    return "* {},{} * * *".format(*kolkata_hours())


def daemon_pipelines() -> list[dict]:
    ids = PIPELINE_IDS

    def writing(table: str) -> list[dict]:
        return [{"type": "data_warehouse", "connection": "analytics-dw", "table": f"{table}_{SUFFIX}"}]

    return [
        _file_pipeline(ids["files"], "landing/*.csv", schedule={
            "type": "event", "triggers": [{"type": "file_arrival", "path": "landing", "pattern": "*.csv",
                                           "interval_seconds": 5}]}),
        _file_pipeline(ids["cron"], "seed.csv", schedule={"type": "cron", "expression": kolkata_cron(),
                                                          "timezone": "Asia/Kolkata", "enabled": False}),
        # Each run of "low" takes 5 s, so the runs queued behind the first are still queued
        # when the urgent one is submitted.
        {"pipeline_id": ids["low"], "priority": "low", "destinations": writing("low"), "data_sources": [{
            "id": "rows", "type": "postgresql", "connection": MONITORED_CONNECTION,
            "query": "SELECT 1 AS id FROM pg_sleep(5)"}]},
        _file_pipeline(ids["shared-a"], "seed.csv", destinations=writing("a")),
        _file_pipeline(ids["upstream"], "upstream.csv"),
        _file_pipeline(ids["downstream"], "seed.csv", depends_on=[ids["upstream"]]),
        {"pipeline_id": ids["monitored"], "data_sources": [{
            "id": "rows", "type": "postgresql", "connection": MONITORED_CONNECTION,
            "query": f"SELECT * FROM {MONITORED_FUNCTION}()"}]},
    ]


@dataclass
class Daemon:
    """The running daemon, its pipelines folder and helpers to wait on its runs."""

    process: subprocess.Popen
    pipelines_dir: Path
    instance: dg.DagsterInstance
    log_path: Path

    @property
    def landing(self) -> Path:
        return self.pipelines_dir / "landing"

    def runs_of(self, pipeline_id: str) -> list[dg.RunRecord]:
        return list(self.instance.get_run_records(dg.RunsFilter(tags={"cleanops/pipeline": pipeline_id})))

    def wait_for(self, condition: Callable[[], object], timeout: float, what: str, poll: float = 0.5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            assert self.process.poll() is None, f"the daemon exited; see {self.log_path}"
            time.sleep(poll)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; daemon log: {self.log_path}\n"
                             + self.log_path.read_text()[-3000:])

    def finished_runs(self, pipeline_id: str, count: int, timeout: float) -> list[dg.RunRecord]:
        def done():
            records = self.runs_of(pipeline_id)
            finished = [r for r in records if r.dagster_run.is_finished]
            return finished if len(finished) >= count else None

        return self.wait_for(done, timeout, f"{count} finished run(s) of {pipeline_id}")

    def finished_ticks(self, instigator_name: str, after: float) -> list:
        """Evaluations of a schedule or sensor that started after `after` and are complete."""
        state = next((s for s in self.instance.all_instigator_state() if s.instigator_name == instigator_name), None)
        if state is None:
            return []
        ticks = self.instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after)
        return [tick for tick in ticks if tick.status != TickStatus.STARTED]

    def wait_for_ticks(self, instigator_name: str, count: int, after: float, timeout: float) -> list:
        """Wait until the daemon has evaluated `instigator_name` `count` times since `after`:
        proof that something did not happen is that the daemon looked and did nothing."""
        def enough():
            ticks = self.finished_ticks(instigator_name, after)
            return ticks if len(ticks) >= count else None

        return self.wait_for(enough, timeout, f"{count} evaluation(s) of {instigator_name}")


def _wait_until_ready(daemon: Daemon) -> None:
    """Ready once the daemon has evaluated the file sensor (it writes the sensor's state)."""
    name = f"{to_identifier(PIPELINE_IDS['files'])}__file_arrival"

    def evaluated():
        return any(state.instigator_name == name and state.instigator_data is not None
                   for state in daemon.instance.all_instigator_state())

    daemon.wait_for(evaluated, 90, "the daemon's first sensor evaluation")


@pytest.fixture(scope="session")
def daemon(cleanops_database, tmp_path_factory):
    folder = tmp_path_factory.mktemp("daemon_pipelines")
    (folder / "landing").mkdir()
    (folder / "seed.csv").write_text(CSV_HEADER + "1,2024-01-01T00:00:00\n")
    for spec in daemon_pipelines():
        (folder / f"{spec['pipeline_id']}.json").write_text(json.dumps(spec, indent=2))
    log_path = folder.parent / f"{folder.name}-daemon.log"
    env = {**os.environ, "CLEANOPS_PIPELINES_DIR": str(folder), "CLEANOPS_DEPENDENCY_INTERVAL_SECONDS": "5",
           connection_variable(MONITORED_CONNECTION): render(cleanops_database.warehouse_url)}
    daemon_bin = Path(sys.executable).parent / "dagster-daemon"
    with open(log_path, "w") as log:
        process = subprocess.Popen([str(daemon_bin), "run", "-w", str(settings.PROJECT_ROOT / "workspace.yaml")],
                                   cwd=settings.PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    instance = dg.DagsterInstance.get()
    running = Daemon(process, folder, instance, log_path)
    try:
        _wait_until_ready(running)
        yield running
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def on_daemon(daemon, monkeypatch) -> Daemon:
    """The daemon, with this process reading the same pipeline files (for trigger, pause, resume)."""
    monkeypatch.setenv("CLEANOPS_PIPELINES_DIR", str(daemon.pipelines_dir))
    return daemon
