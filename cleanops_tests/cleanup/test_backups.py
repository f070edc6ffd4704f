"""cleanup_backups: old archives (files and archived rows) expire; restore then says so."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from cleanops.cleanup import archive, policies, restore, service
from cleanops.cleanup.models import CleanupError, CleanupOptions
from cleanops_tests.cleanup.helpers import file_policy, make_file, options
from cleanops_tests.conftest import unique_id


def test_archives_past_retention_are_purged_and_restore_refuses(warehouse, tmp_path):
    make_file(tmp_path / "root" / "a.log")
    data_type = file_policy(warehouse, tmp_path / "root")
    first = service.run_cleanup(warehouse, options(data_type))
    folder = archive.cleanup_dir(first.cleanup_id)
    assert (folder / "manifest.jsonl").exists()

    backups = unique_id("backups").replace("-", "_")
    policies.save(warehouse, policies.Policy(backups, 7, "archives", roots=["{archives}"]), "test")
    young = service.run_cleanup(warehouse, options(backups, dry_run=True), list_limit=None)
    assert first.cleanup_id not in {c["object"] for c in young.candidates}  # finished just now: kept

    later = CleanupOptions(data_types=[backups], dry_run=False, now=first.options.now + timedelta(days=8))
    purge = service.run_cleanup(warehouse, later)
    assert purge.status == "completed", purge.to_dict()
    assert not folder.exists()
    with warehouse.connect() as conn:
        expired = conn.scalar(sa.text("SELECT archive_expired_at FROM cleanops.cleanup_runs WHERE cleanup_id = :id"),
                              {"id": first.cleanup_id})
    assert expired is not None
    with pytest.raises(CleanupError, match="expired"):
        restore.restore(warehouse, first.cleanup_id, "test")
