"""kill -9 in the middle of a cleanup: the next one completes, archives stay intact, the
audit shows the interrupted run, and restore still works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from cleanops.cleanup import archive, audit, lock, restore, service
from cleanops_tests.cleanup.helpers import file_policy, make_file, options, sha256, snapshot

CHILD = """
import sys
from cleanops.cleanup import service
from cleanops.cleanup.models import CleanupOptions
from cleanops.warehouse import warehouse_engine
result = service.run_cleanup(warehouse_engine(), CleanupOptions(
    data_types=[sys.argv[1]], dry_run=False, batch_size=5, rate_limit=40))
print(result.status)
"""


def _running_cleanup(warehouse, pid: int) -> tuple[str, int] | None:
    with warehouse.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT r.cleanup_id, (SELECT count(*) FROM cleanops.cleanup_audit a WHERE a.cleanup_id = r.cleanup_id "
            "AND a.action = 'deleted') FROM cleanops.cleanup_runs r WHERE r.pid = :pid AND r.status = 'running'"),
            {"pid": pid}).one_or_none()
    return (row[0], row[1]) if row else None


def test_kill_9_mid_run_then_next_run_completes_and_restore_works(warehouse, tmp_path):
    root = tmp_path / "root"
    for i in range(120):
        make_file(root / f"d{i % 4}" / f"f{i:03d}.log", content=os.urandom(100 + i))
    original = snapshot(root)
    data_type = file_policy(warehouse, root)
    child = subprocess.Popen([sys.executable, "-c", CHILD, data_type], env=dict(os.environ),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    progress = None
    while time.monotonic() < deadline:
        progress = _running_cleanup(warehouse, child.pid)
        if progress and progress[1] >= 20:
            break
        assert child.poll() is None, child.communicate()
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    interrupted_id = progress[0]
    left_after_kill = len(snapshot(root))
    assert 0 < left_after_kill < 120

    # archives of the killed run are intact: every manifest entry reads back with its checksum
    entries = list(archive.read_manifest(interrupted_id))
    assert len(entries) >= 20
    for entry in entries:
        assert sha256(archive.cleanup_dir(interrupted_id) / "files" / entry["archived"]) == entry["sha256"]

    # the lock died with the process; the next cleanup runs, completes and flags the dead one
    result = service.run_cleanup(warehouse, options(data_type))
    assert result.status == "completed", result.to_dict()
    assert interrupted_id in result.interrupted
    assert snapshot(root) == {}
    assert len(entries) + result.totals.files_removed >= 120
    with warehouse.connect() as conn:
        status = conn.scalar(sa.text("SELECT status FROM cleanops.cleanup_runs WHERE cleanup_id = :id"),
                             {"id": interrupted_id})
    assert status == "interrupted"
    assert any(a["action"] == "interrupted" for a in audit.actions_of(warehouse, interrupted_id))

    first = restore.restore(warehouse, interrupted_id, "test")
    second = restore.restore(warehouse, result.cleanup_id, "test")
    assert first.files_restored + second.files_restored == 120
    assert snapshot(root) == original


def test_two_cleanups_never_run_together(warehouse):
    with lock.cleanup_lock(warehouse):
        try:
            service.run_cleanup(warehouse, options("no_such_type"))
        except lock.CleanupAlreadyRunning:
            pass
        else:
            raise AssertionError("a second cleanup started while the lock was held")
    service.run_cleanup(warehouse, options("no_such_type"))  # free again
