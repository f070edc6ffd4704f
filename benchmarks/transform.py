"""Benchmark: transform + checks on 1,000,000 staged rows.

In one run, on its own embedded PostgreSQL (a temporary CLEANOPS_HOME, as the tests use):
  1. dbt builds the pipeline's models: an anonymisation view (hmac_sha256 of the email,
     mask of the name) and the incremental destination table;
  2. the GE suite runs in PostgreSQL through GE's SQL datasource;
  3. the same suite runs on a pandas DataFrame of the staged table.
Prints seconds, rows/s and peak RSS (of this CleanOps process; dbt runs as a child process
and its peak is printed apart). Goals: GE-in-PostgreSQL keeps CleanOps under 200 MB and
transform + checks run at ≥ 250,000 rows/s.

    .venv/bin/python benchmarks/transform.py [--rows N]
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PIPELINE = {
    "pipeline_id": "bench-users",
    "data_sources": [{"id": "users", "type": "csv", "path": "users.csv"}],
    "transformations": [
        {"type": "validation", "config": {
            "required_fields": ["user_id", "email"], "unique": ["user_id"],
            "data_types": {"user_id": "integer", "email": "email", "age": "integer"},
            "ranges": {"age": {"min": 0, "max": 120}},
            "allowed_values": {"country": ["DE", "FR", "GB", "US", "ES", "IT", "NL", "SE", "PL", "BR"]},
            "patterns": {"email": "^[^@]+@[^@]+$"}}},
        {"type": "anonymization", "config": {"fields": {"email": "hmac_sha256", "name": "mask"}}},
    ],
    "destinations": [{"connection": "analytics-dw", "table": "bench_users"}],
    "quality": {"rules": [{"type": "row_count", "min": 1}]},
}


def peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def setup(workdir: Path, rows: int):
    """Temporary home, pipelines folder, dbt project copy; start the server; stage the rows."""
    import yaml

    os.environ.update({"CLEANOPS_HOME": str(workdir / "home"), "CLEANOPS_PIPELINES_DIR": str(workdir / "pipelines"),
                       "CLEANOPS_DBT_PROJECT_DIR": str(workdir / "cleanops_dbt"),
                       "CLEANOPS_HMAC_KEY": secrets.token_hex(32)})
    os.environ.pop("CLEANOPS_DATABASE_URL", None)
    (workdir / "pipelines").mkdir(parents=True)
    (workdir / "pipelines" / "bench-users.yaml").write_text(yaml.safe_dump(PIPELINE))
    shutil.copytree(ROOT / "cleanops_dbt", workdir / "cleanops_dbt",
                    ignore=shutil.ignore_patterns("target", "logs", "generated"))
    from cleanops.db import connection, migrate
    from cleanops.warehouse import warehouse_engine

    connection.apply_environment()
    engine = warehouse_engine()
    migrate.migrate(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql(f"""
            CREATE TABLE staging.bench_users__users AS
            SELECT g::bigint AS user_id, 'user' || g || '@example.com' AS email, 'Name ' || g AS name,
                   (ARRAY['DE','FR','GB','US','ES','IT','NL','SE','PL','BR'])[1 + mod(g, 10)] AS country,
                   (18 + mod(g, 70))::bigint AS age, 1::bigint AS _cleanops_load_id, g::bigint AS _cleanops_row_number
            FROM generate_series(1, {int(rows)}) AS g""")
        conn.exec_driver_sql("""INSERT INTO cleanops.staged_loads (load_id, staging_table, batch_id, pipeline_id,
            source_id, origin) VALUES (1, 'bench_users__users', 'bench', 'bench-users', 'users', 'users.csv')""")
        conn.exec_driver_sql("ANALYZE staging.bench_users__users")
    print(f"staged {rows:,} rows in {time.perf_counter() - started:.1f} s (server-side generate_series)")
    return engine


def run_dbt(rows: int) -> float:
    from cleanops.pipelines.loader import load_pipelines
    from cleanops.transform import project

    prepare_started = time.perf_counter()
    project.prepare(load_pipelines())
    print(f"dbt prepare (generate models + parse): {time.perf_counter() - prepare_started:.1f} s (not in the rate)")
    started = time.perf_counter()
    with project.hmac_session_settings(required=True):
        invocation = project.dbt_resource().cli(["build", "--quiet", "--select", "bench_users__s02_anonymization+"],
                                                target_path=Path("target") / "bench")
    invocation.wait()
    seconds = time.perf_counter() - started
    report("dbt build (anonymisation view + destination table + tests)", rows, seconds,
           f"dbt child peak RSS {peak_rss_mb(resource.RUSAGE_CHILDREN):.0f} MB")
    results = invocation.get_artifact("run_results.json")["results"]
    in_database = sum(r["execution_time"] for r in results)
    for r in results:
        print(f"    {r['unique_id']}: {r['execution_time']:.2f} s")
    report("  of which dbt nodes in PostgreSQL", rows, in_database,
           f"the other {seconds - in_database:.1f} s are dbt's start-up and parse")
    return seconds


def staging_target():
    from cleanops.pipelines.loader import load_pipelines
    from cleanops.quality.rules import check_targets

    pipeline = load_pipelines().by_id("bench-users")
    return next(t for t in check_targets(pipeline) if t.schema == "staging")


def run_ge_postgres(rows: int) -> float:
    from cleanops.quality.checks import evaluate

    import great_expectations  # noqa: F401  (import cost and memory are not part of the check)

    target = staging_target()
    before = peak_rss_mb()
    started = time.perf_counter()
    outcomes = evaluate(target, "benchmark")
    seconds = time.perf_counter() - started
    failed = [o.rule.name for o in outcomes if not o.success]
    report(f"GE suite in PostgreSQL ({len(outcomes)} rules, failed: {failed or 'none'})", rows, seconds,
           f"CleanOps peak RSS {peak_rss_mb():.0f} MB (with GE imported: {before:.0f} MB before the suite)")
    return seconds


def run_ge_pandas(engine, rows: int) -> None:
    import pandas as pd

    from cleanops.quality.expectations import run_on_dataframe

    target = staging_target()
    started = time.perf_counter()
    with engine.connect() as conn:
        frame = pd.read_sql_table("bench_users__users", conn, schema="staging")
    loaded = time.perf_counter() - started
    outcomes = run_on_dataframe(frame, target)
    seconds = time.perf_counter() - started
    report(f"GE suite on pandas ({len(outcomes)} rules; {loaded:.1f} s of it reading the table)", rows, seconds,
           f"CleanOps peak RSS {peak_rss_mb():.0f} MB")


def report(label: str, rows: int, seconds: float, extra: str = "") -> None:
    print(f"{label}: {seconds:.2f} s, {rows / seconds:,.0f} rows/s{'; ' + extra if extra else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cleanops-bench-transform-"))
    os.chmod(workdir, 0o755)  # reachable by the server's own user: no fallback folder elsewhere
    from cleanops.db import embedded

    try:
        engine = setup(workdir, args.rows)
        print(f"CleanOps peak RSS after setup: {peak_rss_mb():.0f} MB")
        ge_seconds = run_ge_postgres(args.rows)  # first, so neither dbt's adapter nor pandas inflates its peak
        dbt_seconds = run_dbt(args.rows)
        report("transform + checks (dbt + GE in PostgreSQL)", args.rows, dbt_seconds + ge_seconds,
               "goal ≥ 250,000 rows/s")
        run_ge_pandas(engine, args.rows)
        engine.dispose()
    finally:
        layout = embedded.plan_layout(workdir / "home")
        embedded.stop(layout)
        if layout.data_dir.is_relative_to(embedded.FALLBACK_ROOT):
            shutil.rmtree(layout.data_dir.parent, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
