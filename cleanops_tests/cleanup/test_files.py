"""Safety of file cleanup: roots, symlinks, unsafe patterns, late changes, locks, odd names."""

from __future__ import annotations

import fcntl
import os

import pytest

from cleanops.cleanup import files, policies, service
from cleanops.cleanup.models import PolicyError
from cleanops_tests.cleanup.helpers import file_policy, make_file, options, snapshot


def test_nothing_outside_roots_is_touched(warehouse, tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    make_file(root / "old.log")
    make_file(outside / "old.log")
    make_file(tmp_path / "root-sibling" / "old.log")
    before = snapshot(outside) | snapshot(tmp_path / "root-sibling")
    data_type = file_policy(warehouse, root)
    result = service.run_cleanup(warehouse, options(data_type))
    assert result.status == "completed"
    assert result.totals.files_removed == 1
    assert not (root / "old.log").exists()
    assert snapshot(outside) | snapshot(tmp_path / "root-sibling") == before


def test_symlink_out_of_root_leaves_target_alone(warehouse, tmp_path):
    root = tmp_path / "root"
    target_dir = tmp_path / "precious"
    target_file = make_file(target_dir / "keep.txt")
    make_file(root / "inner" / "old.tmp")
    os.symlink(target_dir, root / "linked_dir")
    os.symlink(target_file, root / "linked_file")
    before = snapshot(target_dir)
    data_type = file_policy(warehouse, root)
    result = service.run_cleanup(warehouse, options(data_type))
    assert result.totals.files_removed == 1
    assert snapshot(target_dir) == before
    assert os.path.islink(root / "linked_dir") and os.path.islink(root / "linked_file")


def test_root_that_is_a_symlink_is_not_entered(warehouse, tmp_path):
    real = tmp_path / "real"
    make_file(real / "old.log")
    os.symlink(real, tmp_path / "root")
    data_type = file_policy(warehouse, tmp_path / "root")
    result = service.run_cleanup(warehouse, options(data_type))
    assert result.totals.planned == 0
    assert (real / "old.log").exists()


@pytest.mark.parametrize("pattern", ["../*", "a/../../b", "/etc/*", "/tmp", "~/x"])
def test_dotdot_and_absolute_patterns_are_refused(warehouse, tmp_path, pattern):
    with pytest.raises(PolicyError):
        file_policy(warehouse, tmp_path, patterns=[pattern])
    with pytest.raises(PolicyError):
        policies.validate_pattern(pattern)


def test_unsafe_pattern_written_to_the_table_is_refused_at_cleanup_time(warehouse, tmp_path):
    import sqlalchemy as sa

    from cleanops.cleanup import audit

    make_file(tmp_path / "root" / "old.log")
    data_type = file_policy(warehouse, tmp_path / "root")
    with warehouse.begin() as conn:  # an operator bypassing the CLI
        conn.execute(sa.text("UPDATE cleanops.cleanup_policies SET patterns = '[\"../*\"]' WHERE data_type = :d"),
                     {"d": data_type})
    result = service.run_cleanup(warehouse, options(data_type))
    assert result.status == "completed_with_errors"
    assert [r["data_type"] for r in result.refused] == [data_type] and ".." in result.refused[0]["reason"]
    assert [a["action"] for a in audit.actions_of(warehouse, result.cleanup_id)] == ["policy_refused"]
    assert (tmp_path / "root" / "old.log").exists()


def test_file_modified_after_scan_is_not_deleted(warehouse, tmp_path):
    root = tmp_path / "root"
    changed = make_file(root / "changed.log")
    make_file(root / "other.log")
    data_type = file_policy(warehouse, root)
    session = service.start(warehouse, options(data_type))
    result = service.CleanupResult(session.cleanup_id, session.options)
    service.analyse(session, result)
    with open(changed, "ab") as handle:  # written between the scan and the deletion
        handle.write(b"late")
    service.safe_deletion(session, result)
    assert os.path.exists(changed)
    assert not (root / "other.log").exists()
    assert result.totals.skipped == 1 and result.totals.files_removed == 1


def test_file_locked_after_scan_is_not_deleted(warehouse, tmp_path):
    root = tmp_path / "root"
    locked = make_file(root / "locked.log")
    data_type = file_policy(warehouse, root)
    session = service.start(warehouse, options(data_type))
    result = service.CleanupResult(session.cleanup_id, session.options)
    service.analyse(session, result)
    with open(locked, "rb") as holder:
        fcntl.flock(holder, fcntl.LOCK_SH)
        service.safe_deletion(session, result)
    assert os.path.exists(locked)
    assert result.totals.skipped == 1 and result.totals.files_removed == 0
    from cleanops.cleanup import audit

    actions = audit.actions_of(warehouse, session.cleanup_id)
    assert [a["reason"] for a in actions] == ["locked by another process (flock)"]


def test_names_with_spaces_newlines_and_non_utf8_bytes(warehouse, tmp_path):
    root = os.fsencode(tmp_path / "root")
    names = [b"with space.log", b"new\nline.log", b"latin1-\xe9\xff.log", b"dir \xfe\n/inner.log"]
    for name in names:
        make_file(os.path.join(root, name), content=name)
    data_type = file_policy(warehouse, tmp_path / "root")
    dry = service.run_cleanup(warehouse, options(data_type, dry_run=True))
    assert dry.candidate_count == 4
    result = service.run_cleanup(warehouse, options(data_type))
    assert result.status == "completed", result.to_dict()
    assert result.totals.files_removed == 4
    for name in names:
        assert not os.path.lexists(os.path.join(root, name))


def test_dry_run_lists_exactly_what_the_run_deletes(warehouse, tmp_path):
    root = tmp_path / "root"
    for i in range(25):
        make_file(root / f"d{i % 3}" / f"f{i}.log", age_days=30 if i % 2 else 1)
    make_file(root / "keep.txt", age_days=30)
    data_type = file_policy(warehouse, root, patterns=["*.log"])
    dry = service.run_cleanup(warehouse, options(data_type, dry_run=True), list_limit=None)
    listed = {c["object"] for c in dry.candidates}
    assert len(listed) == 12 and all(os.path.exists(p) for p in listed)
    run = service.run_cleanup(warehouse, options(data_type))
    from cleanops.cleanup import audit

    deleted = {a["object"] for a in audit.actions_of(warehouse, run.cleanup_id) if a["action"] == "deleted"}
    assert deleted == listed
    assert all(not os.path.exists(p) for p in listed)


def test_batches_are_bounded(warehouse, tmp_path):
    root = tmp_path / "root"
    for i in range(23):
        make_file(root / f"f{i}.log")
    data_type = file_policy(warehouse, root)
    result = service.run_cleanup(warehouse, options(data_type, batch_size=5))
    assert result.totals.batches == [5, 5, 5, 5, 3]


def test_scanner_never_yields_links_or_special_files(tmp_path):
    root = tmp_path / "root"
    make_file(root / "a.log")
    os.symlink(root / "a.log", root / "b.log")
    os.mkfifo(root / "c.log")
    found = list(files.scan_root(os.fsencode(root), [b"*"], 2**62, "t", "r"))
    assert [os.path.basename(c.path) for c in found] == ["a.log"]
