"""The run launcher: Dagster's DefaultRunLauncher, plus a health check of each run's worker.

Dagster's run monitoring (dagster.yaml `run_monitoring`, run by the daemon) marks a STARTED
run failed when the run launcher reports its worker dead — but the DefaultRunLauncher of
dagster 1.13 cannot tell, so a run whose worker was killed together with its code server
(`kill -9` of the process group, a crashed container, a reboot) stayed STARTED forever and
`run_retries` never saw it. Workers launched this way run on this machine, as children of a
local code server, and each reports its pid in an engine event ("Started process for run");
a run is dead when that process is gone.

A worker on another machine (a code server reached over the network) cannot be checked
from here and counts as running: that code server marks its own dead workers failed, and
`dagster/max_runtime` bounds the rest.
"""

from __future__ import annotations

import json
import socket

import dagster as dg
import psutil
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

LAUNCH_HOST_TAG = "cleanops/launch_host"
GRPC_INFO_TAG = ".dagster/grpc_info"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
PID_CLOCK_SLACK_SECONDS = 1.0  # a process's start time and the event's timestamp come from two clocks


class HealthCheckedRunLauncher(dg.DefaultRunLauncher):
    """Launches runs like the DefaultRunLauncher and tells run monitoring when a worker died."""

    def launch_run(self, context) -> None:
        self._instance.add_run_tags(context.dagster_run.run_id, {LAUNCH_HOST_TAG: socket.gethostname()})
        super().launch_run(context)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        if not _worker_runs_here(run):
            return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker on another machine: not checked here")
        started = _worker_start(self._instance, run.run_id)
        if started is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker has not reported its process yet")
        pid, reported_at = started
        if _process_alive(pid, reported_at):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker process {pid} is alive")
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {pid} is gone",
                                    run_worker_id=str(pid))


def _worker_runs_here(run: dg.DagsterRun) -> bool:
    """Launched from this machine through a code server on this machine."""
    if run.tags.get(LAUNCH_HOST_TAG) != socket.gethostname():
        return False
    grpc_info = json.loads(run.tags.get(GRPC_INFO_TAG, "{}"))
    return "socket" in grpc_info or grpc_info.get("host") in LOCAL_HOSTS | {socket.gethostname()}


def _worker_start(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The pid the run worker reported last (a resumed run reports a new one), and when.

    The run worker's engine event carries only a pid; a step process's also names its steps.
    """
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT,
                                           ascending=False).records
    for record in records:
        event = record.event_log_entry.dagster_event
        metadata = event.engine_event_data.metadata if event and event.engine_event_data else {}
        if "pid" in metadata and "step_keys" not in metadata:
            return int(metadata["pid"].value), record.event_log_entry.timestamp
    return None


def _process_alive(pid: int, reported_at: float) -> bool:
    """True when `pid` is still the worker: running, and not a newer process that reused the pid."""
    try:
        process = psutil.Process(pid)
        return (process.status() != psutil.STATUS_ZOMBIE
                and process.create_time() <= reported_at + PID_CLOCK_SLACK_SECONDS)
    except psutil.NoSuchProcess:
        return False
