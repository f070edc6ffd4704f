"""Importing a part of CleanOps that a deployment may leave out (an area, a CLI group)."""

from __future__ import annotations

import importlib
from types import ModuleType


def import_if_present(module_name: str) -> ModuleType | None:
    """The module, or None when it (or its package) does not exist; other import errors propagate."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            return None
        raise
