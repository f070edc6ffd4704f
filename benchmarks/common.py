"""Shared benchmark plumbing: a private CleanOps home with its own embedded server, and
running a measured function in a child process so its peak RSS is its own."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def private_home(prefix: str = "cleanops-bench-"):
    """A temporary CLEANOPS_HOME with a fresh embedded server, removed afterwards.

    With CLEANOPS_DATABASE_URL set the user's server is used instead and nothing is started.
    """
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(base, 0o755)
    os.environ["CLEANOPS_HOME"] = str(base)
    os.environ["CLEANOPS_PIPELINES_DIR"] = str(base / "pipelines")
    (base / "pipelines").mkdir()
    from cleanops.db import connection, embedded, migrate
    from cleanops.warehouse import warehouse_engine

    target = connection.apply_environment()
    migrate.migrate(warehouse_engine())
    try:
        yield base, target
    finally:
        warehouse_engine().dispose()
        if target.embedded:
            embedded.stop(embedded.plan_layout(base))
        shutil.rmtree(base, ignore_errors=True)


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM): ru_maxrss would carry the parent's peak across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_child(script: Path, *args: str) -> dict:
    """Run `script --child ARGS` and return the JSON object it prints last."""
    started = time.perf_counter()
    output = subprocess.run([sys.executable, str(script), "--child", *args], check=True,
                            capture_output=True, text=True, env=os.environ.copy())
    result = json.loads(output.stdout.strip().splitlines()[-1])
    result.setdefault("wall_seconds", round(time.perf_counter() - started, 2))
    return result
