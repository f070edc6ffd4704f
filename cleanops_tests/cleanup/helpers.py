"""Helpers shared by the cleanup tests: unique file policies and aged files."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from cleanops.cleanup import policies
from cleanops.cleanup.models import CleanupOptions
from cleanops_tests.conftest import unique_id

DAY = 86400


def file_policy(warehouse, root: Path, patterns=("*",), days: float = 7, kind: str = "files") -> str:
    """A fresh files policy over `root`; returns its data type (unique per test)."""
    data_type = unique_id("files").replace("-", "_")
    policies.save(warehouse, policies.Policy(data_type=data_type, retention_days=days, kind=kind,
                                             roots=[str(root)], patterns=list(patterns)), "test")
    return data_type


def make_file(path: Path | bytes, content: bytes = b"data", age_days: float = 30, mode: int = 0o640) -> bytes:
    raw = os.fsencode(path)
    os.makedirs(os.path.dirname(raw), exist_ok=True)
    with open(raw, "wb") as handle:
        handle.write(content)
    os.chmod(raw, mode)
    when = time.time() - age_days * DAY
    os.utime(raw, (when, when))
    return raw


def options(data_type: str, **kwargs) -> CleanupOptions:
    kwargs.setdefault("dry_run", False)
    return CleanupOptions(data_types=[data_type], **kwargs)


def sha256(path) -> str:
    return hashlib.sha256(open(os.fsencode(path), "rb").read()).hexdigest()


def snapshot(root: Path) -> dict[bytes, tuple[str, int, int]]:
    """Every regular file under root (links not followed): sha256, mode, mtime_ns."""
    found = {}
    for folder, dirs, names in os.walk(os.fsencode(root)):
        for name in names:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if os.path.islink(path):
                found[path] = ("link", os.readlink(path), 0)
            else:
                found[path] = (sha256(path), info.st_mode & 0o7777, info.st_mtime_ns)
    return found


def runs_policy(warehouse, job_pattern: str, statuses=("SUCCESS", "FAILURE"), days: float = 0,
                keep_last: int = 0) -> str:
    data_type = unique_id("runs").replace("-", "_")
    policies.save(warehouse, policies.Policy(data_type=data_type, retention_days=days, kind="runs",
                                             statuses=list(statuses), patterns=[job_pattern],
                                             keep_last=keep_last), "test")
    return data_type


def table_policy(warehouse, kind: str, table_pattern: str, days: float = 30) -> str:
    data_type = unique_id(kind).replace("-", "_")
    policies.save(warehouse, policies.Policy(data_type=data_type, retention_days=days, kind=kind,
                                             patterns=[table_pattern]), "test")
    return data_type


def asset_job(name: str, asset_name: str, fail: bool = False):
    """A one-asset job with a unique name, resolved from its Definitions."""
    import dagster as dg

    @dg.asset(name=asset_name)
    def _asset():
        if fail:
            raise RuntimeError("planned failure")
        return 1

    defs = dg.Definitions(assets=[_asset], jobs=[dg.define_asset_job(name, selection=[_asset])])
    return defs.resolve_job_def(name)
