"""The pipelines one load of the code location sees, read and built once per load.

The `PipelineFiles` component (ingestion, checks, jobs, schedules, sensors) and the transform
area (one @dbt_assets over every pipeline's models) both need the checked pipelines of the
pipelines folder. `loading(result)` opens a load: the first component to ask builds the
folder, the others reuse that build. Outside a load (a component built on its own) each call
builds afresh. Nothing here runs at import time.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cleanops import settings
from cleanops.components.build import CheckedBuild, build_checked
from cleanops.pipelines.loader import LoadResult, load_pipelines

logger = logging.getLogger("cleanops")


@dataclass
class _Load:
    given: LoadResult | None  # a result the caller already loaded (tests, `build_definitions(result)`)
    builds: dict[Path, CheckedBuild] = field(default_factory=dict)


_current: contextvars.ContextVar[_Load | None] = contextvars.ContextVar("cleanops_location_load", default=None)


@contextmanager
def loading(result: LoadResult | None = None) -> Iterator[None]:
    """One load of the code location; `result` stands for the default pipelines folder when given."""
    token = _current.set(_Load(result))
    try:
        yield
    finally:
        _current.reset(token)


def _folder(folder: Path | None) -> Path:
    return Path(folder or settings.pipelines_dir()).resolve()


def checked_build(folder: Path | None = None) -> CheckedBuild:
    """The pipelines folder (default: CLEANOPS_PIPELINES_DIR or `pipelines/`), loaded and built with
    every bad file reported and left out."""
    key = _folder(folder)
    load = _current.get()
    if load is not None and key in load.builds:
        return load.builds[key]
    given = load.given if load is not None and key == _folder(None) else None
    built = build_checked(given or load_pipelines(key))
    for error in built.result.errors:
        logger.warning("pipeline file skipped: %s", error)
    if load is not None:
        load.builds[key] = built
    return built
