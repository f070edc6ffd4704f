"""Runs whose worker process died: found by a CleanOps sensor, reported failed, then retried.

Dagster's DefaultRunLauncher cannot tell run monitoring that a run's worker died, so a run
whose worker was killed together with its code server (`kill -9` of the process group, a
crashed container, a reboot) would stay STARTED forever and `run_retries` would never see
it. Workers launched through a code server on this machine report their pid in an engine
event ("Started process for run"); the `cleanops_dead_run_workers` sensor, evaluated by the
daemon every few seconds, reports a STARTED run failed (`instance.report_run_failed`) when
that process is gone, and `run_retries` (dagster.yaml) retries it.

A run whose code server was reached over the network runs on another machine: it cannot be
checked from here and counts as running (that code server marks its own dead workers
failed, and `dagster/max_runtime` bounds the rest). The daemon must therefore run on the
machine of the local code servers, as `make dev` and `make run` arrange.
"""

from __future__ import annotations

import json
import socket

import dagster as dg
import psutil

SENSOR_NAME = "cleanops_dead_run_workers"
GRPC_INFO_TAG = ".dagster/grpc_info"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
PID_CLOCK_SLACK_SECONDS = 1.0  # a process's start time and the event's timestamp come from two clocks
CHECK_INTERVAL_SECONDS = 10


def dead_worker_message(run: dg.DagsterRun, instance: dg.DagsterInstance) -> str | None:
    """Why the run's worker is known dead, or None while it runs (or cannot be checked here)."""
    if not _worker_runs_here(run):
        return None
    started = _worker_start(instance, run.run_id)
    if started is None:
        return None
    pid, reported_at = started
    return None if _process_alive(pid, reported_at) else f"run worker process {pid} is gone"


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Report every STARTED run with a dead worker failed; returns their run ids."""
    failed = []
    for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        message = dead_worker_message(run, instance)
        if message and instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED:
            instance.report_run_failed(run, message)
            failed.append(run.run_id)
    return failed


@dg.sensor(name=SENSOR_NAME, minimum_interval_seconds=CHECK_INTERVAL_SECONDS,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Marks STARTED runs failed when their worker process on this machine is gone "
                       "(run_retries then retries them).")
def dead_run_workers(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    failed = fail_dead_runs(context.instance)
    return dg.SkipReason(f"reported failed: {', '.join(failed)}" if failed else "every run worker is alive")


def _worker_runs_here(run: dg.DagsterRun) -> bool:
    """Launched through a code server on this machine (a unix socket or a local address)."""
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
