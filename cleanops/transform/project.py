"""The dbt project on disk: where it is, how it is prepared, how dbt is invoked.

Definitions never parse dbt: `prepare()` writes the generated models from the pipeline files
and runs `dbt parse` once (from `make install`/`make run`, the tests, or
`python -m cleanops.transform.prepare`); loading then only reads target/manifest.json.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac as hmac_module
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Iterator

from dagster_dbt import DbtCliResource, DbtProject

from cleanops import settings
from cleanops.pipelines.loader import LoadResult
from cleanops.transform import models

GENERATED = Path("models") / "generated"
FINGERPRINT_FILE = "cleanops_generated.json"
HMAC_KEY_ENV = settings.variable("hmac_key")
SHA256_BLOCK = 64
INVOCATION_PREFIX = "cleanops_dbt_models-"  # dagster-dbt names run folders after the assets definition
KEEP_INVOCATIONS = 20


class MissingHmacKey(RuntimeError):
    """A pipeline asks for hmac_sha256 but CLEANOPS_HMAC_KEY is not set."""


def project_dir() -> Path:
    return settings.dbt_project_dir()


def dbt_executable() -> str:
    """The venv's `cleanops-dbt` (dbt with an instant `--version`, see transform.dbt_command), else its dbt.

    dagster-dbt does not install dbt and PATH may not hold the venv.
    """
    for name in ("cleanops-dbt", "dbt"):
        candidate = Path(sys.executable).with_name(name)
        if candidate.exists():
            return str(candidate)
    return "dbt"


def dbt_project() -> DbtProject:
    folder = project_dir()
    return DbtProject(project_dir=folder, profiles_dir=folder)


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable())


def manifest_path() -> Path:
    return project_dir() / "target" / "manifest.json"


def write_generated_models(result: LoadResult, folder: Path | None = None) -> dict[str, str]:
    """Replace models/generated with the models of the pipelines in `result`."""
    target = (folder or project_dir()) / GENERATED
    files = models.render_files(result.pipelines)
    if target.exists():
        shutil.rmtree(target)
    for relative, content in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return files


def profile_environment() -> None:
    """The connection variables dbt's profile reads, without starting or creating anything.

    dbt keeps its partial-parse cache only while the rendered profile is unchanged, so the
    parse at prepare time must see the same values as the runs later do.
    """
    from cleanops.db import connection

    for name, value in connection.export_environment(connection.configured_target()).items():
        os.environ.setdefault(name, value)


def prepare(result: LoadResult) -> Path:
    """Generate the models and parse the project; returns the manifest path."""
    profile_environment()
    files = write_generated_models(result)
    project = dbt_project()
    invocation = DbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
        ["parse", "--quiet"], target_path=project.target_path)
    invocation.wait()
    record = {"fingerprint": models.fingerprint(files), "pipelines": [p.spec.pipeline_id for p in result.pipelines]}
    (project_dir() / "target" / FINGERPRINT_FILE).write_text(json.dumps(record))
    return manifest_path()


def is_stale(result: LoadResult) -> bool:
    """True when the manifest was prepared from other pipeline files than these."""
    try:
        record = json.loads((project_dir() / "target" / FINGERPRINT_FILE).read_text())
    except (OSError, ValueError):
        return True
    return record.get("fingerprint") != models.fingerprint(models.render_files(result.pipelines))


def prune_invocation_dirs(keep: int = KEEP_INVOCATIONS) -> list[Path]:
    """dagster-dbt writes a target folder per run (`target/<assets>-<run>-<id>`); keep the newest few.

    They hold compiled SQL and run results, useful to look at after a failure, but a pipeline
    that runs hourly would otherwise add thousands of folders a year.
    """
    target = project_dir() / "target"
    folders = sorted((f for f in target.glob(f"{INVOCATION_PREFIX}*") if f.is_dir()),
                     key=lambda f: f.stat().st_mtime, reverse=True)
    removed = folders[keep:]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def hmac_pads(key: bytes) -> tuple[str, str]:
    """HMAC-SHA256's inner and outer padded keys (RFC 2104), hex: SQL then needs only sha256()."""
    if len(key) > SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(SHA256_BLOCK, b"\0")
    inner = bytes(b ^ 0x36 for b in key)
    outer = bytes(b ^ 0x5C for b in key)
    return inner.hex(), outer.hex()


def hmac_sha256_hex(value: str, key: str) -> str:
    """What the generated SQL computes, for checks and tests."""
    return hmac_module.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


@contextlib.contextmanager
def hmac_session_settings(required: bool) -> Iterator[None]:
    """Expose the key's pads to dbt's connections as session settings, via libpq's PGOPTIONS.

    The key itself stays in the environment: it is never written into model files, compiled
    SQL, logs or run results (a value in compiled SQL would end up in all three).
    """
    key = settings.hmac_key()
    if not key:
        if required:
            raise MissingHmacKey(f"a pipeline uses hmac_sha256: set {HMAC_KEY_ENV} (the key is read from the "
                                 "environment only)")
        yield
        return
    inner, outer = hmac_pads(key.encode())
    saved = os.environ.get("PGOPTIONS")
    extra = f"-c {models.HMAC_INNER_SETTING}={inner} -c {models.HMAC_OUTER_SETTING}={outer}"
    os.environ["PGOPTIONS"] = f"{saved} {extra}" if saved else extra
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PGOPTIONS", None)
        else:
            os.environ["PGOPTIONS"] = saved
