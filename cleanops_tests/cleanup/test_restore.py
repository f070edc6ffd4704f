"""Restore returns files byte-identical (sha256, mode, mtime) and rows identical."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from cleanops.cleanup import restore, service
from cleanops.cleanup.models import CleanupError
from cleanops_tests.cleanup.helpers import file_policy, make_file, options, snapshot, table_policy
from cleanops_tests.conftest import unique_id


def test_restore_files_byte_identical_with_mode_and_mtime(warehouse, tmp_path):
    root = tmp_path / "root"
    make_file(root / "a.log", os.urandom(300_000), mode=0o600, age_days=40)
    make_file(root / "deep" / "nested" / "b.log", b"", mode=0o755, age_days=12.5)
    make_file(os.fsencode(root) + b"/odd \n\xff name.log", b"odd", mode=0o644)
    before = snapshot(root)
    data_type = file_policy(warehouse, root)
    result = service.run_cleanup(warehouse, options(data_type))
    assert result.totals.files_removed == 3 and result.verification.ok
    assert snapshot(root) == {}
    report = restore.restore(warehouse, result.cleanup_id, "test")
    assert report.files_restored == 3 and not report.problems
    assert snapshot(root) == before


def test_restore_never_overwrites_a_new_file(warehouse, tmp_path):
    root = tmp_path / "root"
    make_file(root / "a.log", b"old")
    data_type = file_policy(warehouse, root)
    result = service.run_cleanup(warehouse, options(data_type))
    make_file(root / "a.log", b"new", age_days=0)
    report = restore.restore(warehouse, result.cleanup_id, "test")
    assert report.files_skipped == 1
    assert (root / "a.log").read_bytes() == b"new"


def test_restore_refuses_dry_runs_and_unarchived_cleanups(warehouse, tmp_path):
    make_file(tmp_path / "root" / "a.log")
    data_type = file_policy(warehouse, tmp_path / "root")
    dry = service.run_cleanup(warehouse, options(data_type, dry_run=True))
    with pytest.raises(CleanupError, match="dry run"):
        restore.restore(warehouse, dry.cleanup_id, "test")
    bare = service.run_cleanup(warehouse, options(data_type, archive=False))
    assert bare.totals.files_removed == 1
    with pytest.raises(CleanupError, match="without backups"):
        restore.restore(warehouse, bare.cleanup_id, "test")


def _rows(warehouse, table: str, schema: str = "staging") -> list[tuple]:
    with warehouse.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.text(f'SELECT * FROM {schema}."{table}"')))


def test_restore_quarantine_rows_identical(warehouse):
    table = unique_id("q").replace("-", "_")
    with warehouse.begin() as conn:
        conn.execute(sa.text(f"""CREATE TABLE quarantine."{table}" (
            quarantine_id bigserial PRIMARY KEY, batch_id text NOT NULL, raw_record jsonb NOT NULL,
            status text NOT NULL DEFAULT 'new', quarantined_at timestamptz NOT NULL DEFAULT now(),
            reviewed_at timestamptz)"""))
        conn.execute(sa.text(f"""INSERT INTO quarantine."{table}" (batch_id, raw_record, status, reviewed_at)
            SELECT 'b' || (i % 3), jsonb_build_object('i', i, 'text', 'x' || i),
                   (ARRAY['new', 'accepted', 'replayed'])[1 + i % 3],
                   CASE WHEN i % 3 = 0 THEN NULL ELSE now() - interval '40 days' END
            FROM generate_series(1, 30) i"""))
    before = _rows(warehouse, table, "quarantine")
    data_type = table_policy(warehouse, "quarantine", table)
    result = service.run_cleanup(warehouse, options(data_type, batch_size=7))
    assert result.status == "completed", result.to_dict()
    assert result.totals.rows_deleted == 20
    assert max(result.totals.batches) <= 7
    left = _rows(warehouse, table, "quarantine")
    assert len(left) == 10 and all(r[3] == "new" for r in left)
    report = restore.restore(warehouse, result.cleanup_id, "test")
    assert report.rows_restored == {f"quarantine.{table}": 20}
    assert _rows(warehouse, table, "quarantine") == before
    again = restore.restore(warehouse, result.cleanup_id, "test")  # moved back: a second restore adds nothing
    assert again.rows_restored == {}
    assert _rows(warehouse, table, "quarantine") == before


def test_restore_from_a_byte_copy_when_reflinks_are_unsupported(warehouse, tmp_path):
    """Most file systems (ext4, tmpfs) cannot reflink: the archive is then a plain copy."""
    from cleanops.cleanup import archive

    root = tmp_path / "root"
    make_file(root / "a.bin", os.urandom(2_500_000), mode=0o604, age_days=20)
    before = snapshot(root)
    data_type = file_policy(warehouse, root)
    result = service.run_cleanup(warehouse, options(data_type))
    assert result.verification.ok and result.totals.archive_bytes == 2_500_000
    entries = list(archive.read_manifest(result.cleanup_id))
    assert [e["method"] for e in entries] in (["copy"], ["reflink"])
    restore.restore(warehouse, result.cleanup_id, "test")
    assert snapshot(root) == before


def test_archive_is_a_read_only_copy_that_shares_no_inode(warehouse, tmp_path):
    from cleanops.cleanup import archive

    original = make_file(tmp_path / "root" / "a.log", b"payload")
    inode = os.stat(original).st_ino
    data_type = file_policy(warehouse, tmp_path / "root")
    result = service.run_cleanup(warehouse, options(data_type))
    entry = next(archive.read_manifest(result.cleanup_id))
    copy = archive.cleanup_dir(result.cleanup_id) / "files" / entry["archived"]
    info = os.stat(copy)
    assert copy.read_bytes() == b"payload" and info.st_nlink == 1 and info.st_ino != inode
    assert info.st_mode & 0o777 == archive.ARCHIVED_MODE
