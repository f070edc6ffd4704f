"""Shared by the transform and quality tests: a private dbt project and pipeline folder per module.

Each test module copies cleanops_dbt/ into a temporary folder (so tests never touch the
developer's generated models or manifest), writes its pipeline files, prepares the manifest
once, and runs real pipeline jobs against the session's PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
import yaml

from cleanops import settings
from cleanops.pipelines.loader import LoadResult, load_pipelines

IGNORED = shutil.ignore_patterns("target", "logs", "generated", "dbt_packages")


@contextlib.contextmanager
def environment(**values: str | None) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def copy_dbt_project(folder: Path) -> Path:
    target = folder / "cleanops_dbt"
    shutil.copytree(settings.PROJECT_ROOT / "cleanops_dbt", target, ignore=IGNORED)
    return target


def write_spec(folder: Path, spec: dict) -> Path:
    path = folder / f"{spec['pipeline_id']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@contextlib.contextmanager
def prepared_workspace(root: Path, specs: list[dict], extra_models: dict[str, str] | None = None,
                       **env: str | None) -> Iterator[LoadResult]:
    """Pipelines folder + dbt project copy + manifest, with the environment pointing at them."""
    from cleanops.transform.project import prepare

    pipelines = root / "pipelines"
    pipelines.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        write_spec(pipelines, spec)
    project = copy_dbt_project(root)
    for relative, text in (extra_models or {}).items():
        path = project / "models" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    with environment(CLEANOPS_PIPELINES_DIR=str(pipelines), CLEANOPS_DBT_PROJECT_DIR=str(project), **env):
        result = load_pipelines()
        assert not result.errors, result.errors
        prepare(result)
        yield result


def scalar(engine: sa.Engine, statement: str, **params):
    with engine.connect() as conn:
        return conn.scalar(sa.text(statement), params)


def rows(engine: sa.Engine, statement: str, **params) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(statement), params).mappings()]


def table_exists(engine: sa.Engine, qualified: str) -> bool:
    return bool(scalar(engine, "SELECT to_regclass(:n) IS NOT NULL", n=qualified))


def dumps(value) -> str:
    return json.dumps(value, default=str)
