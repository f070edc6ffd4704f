"""Cleanup tests clean only folders under the session's temporary folder: allow exactly that."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def allow_test_folders_as_cleanup_roots(tmp_path_factory):
    """CLEANOPS_CLEANUP_ROOTS = pytest's base temporary folder (every tmp_path is inside it).

    Session-scoped, not monkeypatch: hypothesis refuses function-scoped fixtures around @given.
    """
    previous = os.environ.get("CLEANOPS_CLEANUP_ROOTS")
    os.environ["CLEANOPS_CLEANUP_ROOTS"] = str(tmp_path_factory.getbasetemp())
    yield
    if previous is None:
        os.environ.pop("CLEANOPS_CLEANUP_ROOTS", None)
    else:
        os.environ["CLEANOPS_CLEANUP_ROOTS"] = previous
