"""CleanOps: a Dagster component project that ingests, validates, stages, transforms and cleans up data.

`cleanops.Pipeline` and `cleanops.PipelineFiles` are its components (the names a defs.yaml
gives as `type:`). They are imported on first use, so `import cleanops` (every CLI command
starts with it) does not load Dagster.
"""

from __future__ import annotations

import importlib
from typing import Any

_COMPONENTS = {"Pipeline": "cleanops.components.pipeline", "PipelineFiles": "cleanops.components.pipeline"}

__all__ = sorted(_COMPONENTS)


def __getattr__(name: str) -> Any:
    if name in _COMPONENTS:
        return getattr(importlib.import_module(_COMPONENTS[name]), name)
    raise AttributeError(f"module 'cleanops' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_COMPONENTS})
