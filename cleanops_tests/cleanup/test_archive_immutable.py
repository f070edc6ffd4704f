"""The archive cannot change after it is taken, and restore never leaves a file in neither place."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from cleanops.cleanup import archive, audit, files, policies, restore, service
from cleanops_tests.cleanup.helpers import file_policy, make_file, options, sha256, snapshot


def test_archive_does_not_change_when_a_second_hard_link_is_written(warehouse, tmp_path):
    root = tmp_path / "root"
    original = make_file(root / "shared.log", b"as it was at cleanup time\n")
    second_link = tmp_path / "elsewhere" / "shared.log"
    second_link.parent.mkdir()
    os.link(original, second_link)
    before = snapshot(root)
    data_type = file_policy(warehouse, root)
    result = service.run_cleanup(warehouse, options(data_type))
    assert result.totals.files_removed == 1 and result.verification.ok
    with open(second_link, "ab") as writer:  # the other name keeps being written after the cleanup
        writer.write(b"written later through the second link\n")
    entry = next(archive.read_manifest(result.cleanup_id))
    copy = archive.cleanup_dir(result.cleanup_id) / "files" / entry["archived"]
    assert sha256(copy) == entry["sha256"]
    report = restore.restore(warehouse, result.cleanup_id, "test")
    assert report.files_restored == 1 and not report.problems
    assert snapshot(root) == before


WRITER = textwrap.dedent("""
    import sys
    with open(sys.argv[1], "ab", buffering=0) as log:
        print("open", flush=True)
        sys.stdin.readline()
        log.write(b"written after the cleanup\\n")
""")


def test_file_held_open_by_a_writer_is_not_lost(warehouse, tmp_path):
    root = tmp_path / "root"
    held = make_file(root / "service.log", b"first lines\n")
    make_file(root / "idle.log", b"nobody writes me\n")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, held], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline() == b"open\n"
        data_type = file_policy(warehouse, root)
        result = service.run_cleanup(warehouse, options(data_type))
        writer.stdin.write(b"go\n")
        writer.stdin.flush()
        assert writer.wait(timeout=30) == 0
    finally:
        writer.kill()
    assert result.totals.files_removed == 1 and result.totals.skipped == 1
    assert open(held, "rb").read() == b"first lines\nwritten after the cleanup\n"
    assert not os.path.exists(root / "idle.log")
    reasons = {a["object"]: a["reason"] for a in audit.actions_of(warehouse, result.cleanup_id)}
    assert reasons[os.fsdecode(held)].startswith("open for writing by process")
    assert [e["path"] for e in archive.read_manifest(result.cleanup_id)] == [str(root / "idle.log")]


def test_file_changed_while_it_was_archived_is_kept_and_its_copy_withdrawn(warehouse, tmp_path):
    root = tmp_path / "root"
    path = make_file(root / "busy.log", b"before\n")
    data_type = file_policy(warehouse, root)
    candidate = next(files.scan_policy(policies.get(warehouse, data_type), cutoff_ns=2**62))
    archiver = archive.FileArchive("test-withdraw-" + data_type)
    handles = files.DirectoryHandles()
    try:
        held = files.hold(candidate, handles, archiver)
        assert isinstance(held, files.HeldFile)
        with open(path, "ab") as late_writer:  # between the copy and the unlink
            late_writer.write(b"after\n")
        archiver.sync()
        outcome = files.unlink_held(held, archiver)
    finally:
        handles.close()
        archiver.close()
    assert outcome.status == "skipped" and "kept" in outcome.detail
    assert open(path, "rb").read() == b"before\nafter\n"
    assert list(archive.read_manifest("test-withdraw-" + data_type)) == []
    assert os.listdir(archiver.folder) == []


def test_restore_never_leaves_a_file_in_neither_place(warehouse, tmp_path):
    root = tmp_path / "root"
    make_file(root / "sub" / "a.log", b"precious")
    before = snapshot(root)
    data_type = file_policy(warehouse, root)
    result = service.run_cleanup(warehouse, options(data_type))
    entry = next(archive.read_manifest(result.cleanup_id))
    copy = archive.cleanup_dir(result.cleanup_id) / "files" / entry["archived"]
    os.rmdir(root / "sub")
    (root / "sub").write_bytes(b"a file where the folder was")  # the restore cannot put it back
    failed = restore.restore(warehouse, result.cleanup_id, "test")
    assert failed.files_restored == 0 and str(copy) in failed.problems[0]
    assert sha256(copy) == entry["sha256"]  # still in the archive, intact
    os.unlink(root / "sub")
    again = restore.restore(warehouse, result.cleanup_id, "test")
    assert again.files_restored == 1 and not again.problems
    assert snapshot(root) == before
    assert sha256(copy) == entry["sha256"]  # restore copies back; the archive keeps its copy

