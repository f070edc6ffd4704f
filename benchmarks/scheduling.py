"""Event latency on a real Dagster daemon: a file landing → its run starting / finishing.

Plain script (`make bench` runs it). It starts its own embedded PostgreSQL in a temporary
CLEANOPS_HOME, writes two pipelines into a temporary pipelines folder, starts
`dagster-daemon run`, and then:

1. lands 20 CSV files one after another (a trickle, `GAP_SECONDS` apart) in the landing
   folder of a file-arrival pipeline (sensor interval 5 s) and reports, per file, the time
   from landing to the start and to the end of the run that loaded it (median, p95);
2. queues `EMPTY_RUNS` runs of a pipeline whose source matches no file, one at a time,
   to show Dagster's own cost per run (queue → start, start → end) beside pipeline time.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES = 20
GAP_SECONDS = 2.0
EMPTY_RUNS = 5
ROWS_PER_FILE = 1_000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):6.2f} s   p95 {percentile(values, 0.95):6.2f} s   " \
           f"min {min(values):6.2f} s   max {max(values):6.2f} s"


def write_pipelines(folder: Path) -> None:
    files = {"pipeline_id": "bench-files", "priority": "critical",
             "schedule": {"type": "event", "triggers": [{"type": "file_arrival", "path": "landing",
                                                         "pattern": "*.csv", "interval_seconds": 5}]},
             "data_sources": [{"id": "events", "type": "csv", "path": "landing/*.csv"}]}
    empty = {"pipeline_id": "bench-empty", "data_sources": [{"id": "nothing", "type": "csv", "path": "none/*.csv"}]}
    for spec in (files, empty):
        (folder / f"{spec['pipeline_id']}.json").write_text(json.dumps(spec))
    (folder / "landing").mkdir()


def land(folder: Path, name: str, first_id: int) -> float:
    body = "event_id,occurred_at\n" + "".join(f"{first_id + i},2024-01-01T00:00:00\n" for i in range(ROWS_PER_FILE))
    partial = folder / f".{name}.part"
    partial.write_text(body)
    partial.rename(folder / name)
    return time.time()


def start_daemon(pipelines: Path, log_path: Path) -> subprocess.Popen:
    from cleanops import settings

    env = {**os.environ, "CLEANOPS_PIPELINES_DIR": str(pipelines)}
    with open(log_path, "w") as log:
        return subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w",
                                 str(settings.PROJECT_ROOT / "workspace.yaml")], cwd=settings.PROJECT_ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait(condition, timeout: float, what: str, daemon: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon exited while waiting for {what}")
        time.sleep(0.25)
    raise SystemExit(f"timed out waiting for {what}")


def file_latencies(instance, landing: Path, daemon) -> tuple[dict[str, list[float]], list]:
    import dagster as dg

    landed = {}
    for n in range(FILES):
        name = f"events-{n:02d}.csv"
        landed[name] = land(landing, name, n * ROWS_PER_FILE)
        time.sleep(GAP_SECONDS)

    def finished_runs():
        records = instance.get_run_records(dg.RunsFilter(tags={"cleanops/pipeline": "bench-files"}))
        covered = {name: r for r in records for name in json.loads(r.dagster_run.tags.get("cleanops/files", "[]"))}
        done = len(covered) == FILES and all(r.dagster_run.is_finished for r in covered.values())
        return covered if done else None

    covered = wait(finished_runs, 600, "the runs of all files", daemon)
    failed = [r.dagster_run.run_id for r in covered.values() if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
    if failed:
        raise SystemExit(f"runs failed: {failed}")
    latencies = {
        "landing → run start": [covered[name].start_time - landed[name] for name in landed],
        "landing → run end": [covered[name].end_time - landed[name] for name in landed],
        "  of which landing → run queued (sensor)": [
            covered[name].create_timestamp.timestamp() - landed[name] for name in landed],
        "  of which queued → started (dequeue, launch, worker start)": [
            covered[name].start_time - covered[name].create_timestamp.timestamp() for name in landed],
    }
    return latencies, list({r.dagster_run.run_id: r for r in covered.values()}.values())


def step_seconds(instance, run_id: str) -> float:
    """Time inside the pipeline's own step (read, validate, stage), from the step events."""
    import dagster as dg

    records = instance.get_records_for_run(run_id, of_type={dg.DagsterEventType.STEP_START,
                                                            dg.DagsterEventType.STEP_SUCCESS}).records
    times = [r.event_log_entry.timestamp for r in records]
    return max(times) - min(times) if len(times) >= 2 else 0.0


def empty_runs(instance, daemon) -> list[tuple[float, float]]:
    """(queue → start, start → end) of runs that load nothing, one at a time."""
    import dagster as dg

    from cleanops.pipelines.loader import load_pipelines
    from cleanops.scheduling import control

    pipeline = load_pipelines().by_id("bench-empty")
    results = []
    for _ in range(EMPTY_RUNS):
        run = control.submit_runs(instance, [(pipeline, None)])[0]
        record = wait(lambda: next(iter(r for r in instance.get_run_records(dg.RunsFilter(run_ids=[run.run_id]))
                                        if r.dagster_run.is_finished), None), 300, "an empty run", daemon)
        results.append((record.start_time - record.create_timestamp.timestamp(),
                        record.end_time - record.start_time))
    return results


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="cleanops-bench-scheduling-", dir=os.environ.get("TMPDIR", "/tmp")))
    pipelines = home / "pipelines"
    pipelines.mkdir()
    os.environ.update({"CLEANOPS_HOME": str(home), "CLEANOPS_PIPELINES_DIR": str(pipelines)})
    os.environ.pop("CLEANOPS_DATABASE_URL", None)
    import dagster as dg

    from cleanops.db import connection, embedded, migrate
    from cleanops.warehouse import warehouse_engine

    connection.apply_environment()
    migrate.migrate(warehouse_engine())
    write_pipelines(pipelines)
    daemon = start_daemon(pipelines, home / "daemon.log")
    instance = dg.DagsterInstance.get()
    try:
        wait(lambda: any(s.instigator_name == "bench_files__file_arrival" and s.instigator_data
                         for s in instance.all_instigator_state()), 120, "the daemon to start", daemon)
        latencies, runs = file_latencies(instance, pipelines / "landing", daemon)
        steps = [step_seconds(instance, r.dagster_run.run_id) for r in runs]
        empties = empty_runs(instance, daemon)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
        instance.dispose()
        warehouse_engine().dispose()
        embedded.stop(embedded.plan_layout(home))

    print(f"file landing → run, {FILES} files of {ROWS_PER_FILE} rows landed {GAP_SECONDS:.0f} s apart, "
          f"sensor interval 5 s, {len(runs)} runs on a {os.cpu_count()}-CPU machine")
    for label, values in latencies.items():
        print(f"  {label:<60} {summary(values)}")
    print(f"  {'pipeline step per run (read, validate, stage)':<60} {summary(steps)}")
    print(f"empty Dagster run ({EMPTY_RUNS}, one at a time, daemon-launched):")
    print(f"  {'queued → started':<60} {summary([q for q, _ in empties])}")
    print(f"  {'started → finished':<60} {summary([e for _, e in empties])}")
    goal = "met" if statistics.median(latencies["landing → run start"]) < 10 else "NOT met"
    print(f"goal median start latency < 10 s: {goal}")


if __name__ == "__main__":
    main()
