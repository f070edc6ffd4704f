"""Duplicates: identical landing files by content hash; the oldest copy always stays."""

from __future__ import annotations

import os

from cleanops.cleanup import restore, service
from cleanops_tests.cleanup.helpers import file_policy, make_file, options, snapshot


def test_later_identical_copies_removed_original_kept(warehouse, tmp_path):
    root = tmp_path / "landing"
    make_file(root / "orders.csv", b"id,total\n1,10\n", age_days=40)
    make_file(root / "again" / "orders (1).csv", b"id,total\n1,10\n", age_days=30)
    make_file(root / "orders-copy.csv", b"id,total\n1,10\n", age_days=1)  # too young
    make_file(root / "other.csv", b"id,total\n2,20\n", age_days=30)  # same size, other content
    before = snapshot(root)
    data_type = file_policy(warehouse, root, kind="duplicates")
    dry = service.run_cleanup(warehouse, options(data_type, dry_run=True), list_limit=None)
    assert [os.path.basename(c["object"]) for c in dry.candidates] == ["orders (1).csv"]
    assert "duplicate of" in dry.candidates[0]["reason"]
    result = service.run_cleanup(warehouse, options(data_type))
    assert result.totals.files_removed == 1
    assert sorted(p.name for p in root.rglob("*.csv")) == ["orders-copy.csv", "orders.csv", "other.csv"]
    restore.restore(warehouse, result.cleanup_id, "test")
    assert snapshot(root) == before


def test_duplicate_kept_when_its_original_changed_after_the_scan(warehouse, tmp_path):
    root = tmp_path / "landing"
    original = make_file(root / "a.csv", b"same", age_days=40)
    make_file(root / "b.csv", b"same", age_days=30)
    data_type = file_policy(warehouse, root, kind="duplicates")
    session = service.start(warehouse, options(data_type))
    result = service.CleanupResult(session.cleanup_id, session.options)
    service.analyse(session, result)
    os.unlink(original)  # the only other copy disappears before deletion
    service.safe_deletion(session, result)
    assert (root / "b.csv").read_bytes() == b"same"
    assert result.totals.skipped == 1 and result.totals.files_removed == 0
