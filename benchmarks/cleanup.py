"""Cleanup benchmark, in a private CLEANOPS_HOME with its own embedded server.

(a) Database: an instance with N expired runs (default 20,000) and about 50 event-log
    rows each (1,000,000), twice over: CleanOps cleanup (archive on) deletes one set, a
    loop over `instance.delete_run` (the maintainers' suggestion) the other.
(b) Files: 100,000 expired files in nested folders: `find ROOT -type f -mtime +N -delete`
    (the floor) against CleanOps with archive off, and with archive on.
(c) Peak RSS of a child process running a file cleanup of 10,000 and of 100,000 candidates.

Files are synced to disk (os.sync) after they are created, so every approach pays the
file system's real unlink cost rather than deleting page-cache-only files.

    python benchmarks/cleanup.py [--runs 20000] [--events-per-run 50] [--files 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import peak_rss_mb, private_home, run_child  # noqa: E402

DAY = 86400
SCRIPT = Path(__file__).resolve()


# -- (a) database --------------------------------------------------------------------------

def template_run(instance) -> str:
    """One real run of a small op job (about 40 events) to clone."""
    import dagster as dg

    @dg.op
    def step(context, x):
        context.log.info("working")
        context.log.debug("detail")
        return x + 1

    @dg.op
    def first():
        return 1

    @dg.job(name="bench_template_job")
    def bench_template_job():
        step(step(step(first())))

    return bench_template_job.execute_in_process(instance=instance).run_id


def clone_runs(engine, template_id: str, job: str, count: int, events_per_run: int) -> int:
    """`count` copies of the template run, 60 days old, each with `events_per_run` event rows."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        columns = [c for c in conn.scalars(sa.text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'runs' AND table_schema = 'public' "
            "ORDER BY ordinal_position")) if c != "id"]
        replaced = {"run_id": "b.run_id", "pipeline_name": ":job",
                    "run_body": "replace(replace(t.run_body, :tid, b.run_id), 'bench_template_job', :job)",
                    "create_timestamp": "t.create_timestamp - interval '60 days'",
                    "update_timestamp": "t.update_timestamp - interval '60 days'"}
        select = ", ".join(replaced.get(c, f"t.{c}") for c in columns)
        conn.execute(sa.text("DROP TABLE IF EXISTS bench_ids"))
        conn.execute(sa.text("CREATE TABLE bench_ids AS SELECT gen_random_uuid()::text AS run_id, i "
                             "FROM generate_series(1, :n) i"), {"n": count})
        conn.execute(sa.text(f"INSERT INTO runs ({', '.join(columns)}) SELECT {select} FROM runs t, bench_ids b "
                             "WHERE t.run_id = :tid ORDER BY b.i"), {"tid": template_id, "job": job})
        conn.execute(sa.text("INSERT INTO run_tags (run_id, key, value) SELECT b.run_id, t.key, t.value "
                             "FROM run_tags t, bench_ids b WHERE t.run_id = :tid"), {"tid": template_id})
        template_events = conn.scalar(sa.text("SELECT count(*) FROM event_logs WHERE run_id = :tid"),
                                      {"tid": template_id})
        repeats = -(-events_per_run // template_events)
        conn.execute(sa.text(
            "INSERT INTO event_logs (run_id, event, dagster_event_type, timestamp, step_key, asset_key, partition) "
            "SELECT b.run_id, replace(e.event, :tid, b.run_id), e.dagster_event_type, "
            "e.timestamp - interval '60 days', e.step_key, e.asset_key, e.partition "
            "FROM bench_ids b CROSS JOIN generate_series(1, :repeats) r "
            "CROSS JOIN LATERAL (SELECT * FROM event_logs WHERE run_id = :tid ORDER BY id "
            "LIMIT :per_run - (r - 1) * :tpl) e ORDER BY b.i, r, e.id"),
            {"tid": template_id, "repeats": repeats, "per_run": events_per_run, "tpl": template_events})
        rows = conn.scalar(sa.text("SELECT count(*) FROM event_logs e JOIN bench_ids b USING (run_id)"))
        conn.execute(sa.text("DROP TABLE bench_ids"))
    return rows


def settle(engine) -> None:
    """Vacuum, analyze and checkpoint, so no approach pays for another's leftover I/O."""
    import sqlalchemy as sa

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM (ANALYZE) runs, run_tags, event_logs"))
        conn.execute(sa.text("CHECKPOINT"))


def database_benchmark(runs: int, events_per_run: int) -> dict:
    from cleanops.cleanup import policies, runs as cleanup_runs, service
    from cleanops.cleanup.models import CleanupOptions
    from cleanops.warehouse import warehouse_engine

    warehouse = warehouse_engine()
    instance = cleanup_runs.dagster_instance()
    engine = cleanup_runs.instance_engine()
    template = template_run(instance)
    started = time.perf_counter()
    events_a = clone_runs(engine, template, "bench_cleanops_job", runs, events_per_run)
    events_b = clone_runs(engine, template, "bench_delete_run_job", runs, events_per_run)
    setup = time.perf_counter() - started
    settle(engine)
    print(f"  setup: 2 x {runs} runs, {events_a} + {events_b} event rows in {setup:.1f} s", flush=True)
    policies.seed(warehouse)
    policies.save(warehouse, policies.Policy("bench_runs", 30, "runs", statuses=["SUCCESS"],
                                             patterns=["bench_cleanops_job"]), "bench")

    started = time.perf_counter()
    result = service.run_cleanup(warehouse, CleanupOptions(dry_run=False, data_types=["bench_runs"],
                                                           batch_size=500), instance=instance)
    cleanops_seconds = time.perf_counter() - started
    assert result.status == "completed", result.to_dict()
    assert result.totals.runs_deleted == runs, result.to_dict()

    import dagster as dg

    settle(engine)
    started = time.perf_counter()
    deleted = 0
    while True:  # the maintainers' suggestion: find old runs, delete them one by one
        records = instance.get_run_records(filters=dg.RunsFilter(
            job_name="bench_delete_run_job", statuses=[dg.DagsterRunStatus.SUCCESS],
            created_before=result.options.now.replace(microsecond=0) - __import__("datetime").timedelta(days=30)),
            limit=1000)
        if not records:
            break
        for record in records:
            instance.delete_run(record.dagster_run.run_id)
            deleted += 1
    loop_seconds = time.perf_counter() - started
    assert deleted == runs
    return {"runs": runs, "event_rows_each_set": events_a, "cleanops_seconds": round(cleanops_seconds, 2),
            "delete_run_loop_seconds": round(loop_seconds, 2), "speedup": round(loop_seconds / cleanops_seconds, 1),
            "cleanops_archived": True, "cleanops_verified": result.verification.ok}


# -- (b) files ---------------------------------------------------------------------------------

def make_tree(root: Path, count: int) -> None:
    """`count` small files, 60 days old, in root/a<i>/b<j>/ folders of 100 files."""
    old = time.time() - 60 * DAY
    made = 0
    i = 0
    while made < count:
        folder = root / f"a{i // 10:03d}" / f"b{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(min(100, count - made)):
            path = folder / f"file-{k:03d}.log"
            with open(path, "wb") as handle:
                handle.write(b"x" * (64 + k))
            os.utime(path, (old, old))
        made += min(100, count - made)
        i += 1
    os.sync()  # old files are on disk, not only in the page cache: time the real unlink cost


def cleanops_files(root: Path, archive: bool, batch_size: int = 1000) -> tuple[float, dict]:
    from cleanops.cleanup import policies, service
    from cleanops.cleanup.models import CleanupOptions
    from cleanops.warehouse import warehouse_engine

    warehouse = warehouse_engine()
    os.environ["CLEANOPS_CLEANUP_ROOTS"] = str(root.parent)  # the benchmark's folders, under its private home
    data_type = f"bench_files_{os.getpid()}_{int(time.time() * 1000)}"
    policies.save(warehouse, policies.Policy(data_type, 30, "files", roots=[str(root)], patterns=["*.log"]), "bench")
    started = time.perf_counter()
    result = service.run_cleanup(warehouse, CleanupOptions(dry_run=False, data_types=[data_type], archive=archive,
                                                           batch_size=batch_size))
    seconds = time.perf_counter() - started
    assert result.status == "completed", result.to_dict()
    return seconds, result.to_dict()["totals"]


def files_benchmark(base: Path, count: int, rounds: int) -> dict:
    """Each approach on a fresh tree, `rounds` times in turn; the minimum is reported (this
    machine's disk is noisy: the same `find` ranged from 2 s to 30 s for 20,000 files)."""
    samples: dict[str, list[float]] = {"find": [], "cleanops_archive_off": [], "cleanops_archive_on": []}
    for round_number in range(rounds):
        for name in samples:
            root = base / f"{name}-{round_number}"
            make_tree(root, count)
            if name == "find":
                started = time.perf_counter()
                subprocess.run(["find", str(root), "-type", "f", "-mtime", "+30", "-delete"], check=True)
                samples[name].append(round(time.perf_counter() - started, 2))
                continue
            seconds, totals = cleanops_files(root, archive=name.endswith("_on"))
            assert totals["files_removed"] == count, totals
            samples[name].append(round(seconds, 2))
    figures = {"files": count, "rounds": rounds, "samples_seconds": samples}
    best = {name: min(values) for name, values in samples.items()}
    figures.update({f"{name}_seconds": value for name, value in best.items()})
    figures["ratio_archive_off_vs_find"] = round(best["cleanops_archive_off"] / best["find"], 2)
    figures["ratio_archive_on_vs_find"] = round(best["cleanops_archive_on"] / best["find"], 2)
    return figures


# -- (c) memory --------------------------------------------------------------------------------

def child(count: int) -> None:
    """In a fresh process: build `count` expired files and clean them (archive off); print peak RSS."""
    base = Path(os.environ["CLEANOPS_HOME"]) / f"rss-{count}"
    make_tree(base, count)
    import cleanops.cleanup.service  # noqa: F401  (imports counted in the baseline too)

    before = peak_rss_mb()
    seconds, totals = cleanops_files(base, archive=False)
    print(json.dumps({"candidates": count, "peak_rss_mb": peak_rss_mb(), "rss_before_cleanup_mb": before,
                      "seconds": round(seconds, 2), "files_removed": totals["files_removed"]}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_CLEANUP_RUNS", 20000)))
    parser.add_argument("--events-per-run", type=int, default=50)
    parser.add_argument("--files", type=int, default=int(os.environ.get("BENCH_CLEANUP_FILES", 100000)))
    parser.add_argument("--rounds", type=int, default=2, help="file benchmark rounds (minimum reported)")
    parser.add_argument("--skip", choices=("db", "files", "rss"), action="append", default=[])
    parser.add_argument("--child", type=int)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    with private_home("cleanops-bench-cleanup-") as (base, _target):
        report = {}
        # files first: the database part leaves vacuum and checkpoint I/O behind it
        if "files" not in args.skip:
            print("(b) files: find -delete vs CleanOps (archive off / on)", flush=True)
            report["files"] = files_benchmark(base, args.files, args.rounds)
            print("  " + json.dumps(report["files"]), flush=True)
        if "rss" not in args.skip:
            print("(c) peak RSS by candidate count (child processes)", flush=True)
            report["memory"] = [run_child(SCRIPT, str(n)) for n in (10_000, 100_000)]
            for item in report["memory"]:
                print("  " + json.dumps(item), flush=True)
        if "db" not in args.skip:
            print("(a) database: CleanOps cleanup (archive on) vs a loop over instance.delete_run", flush=True)
            report["database"] = database_benchmark(args.runs, args.events_per_run)
            print("  " + json.dumps(report["database"]), flush=True)
        print(json.dumps(report))


if __name__ == "__main__":
    main()
