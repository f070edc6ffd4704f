"""Running the `dg` command of this venv as a user would, from a project root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from cleanops import settings

BIN = Path(sys.executable).parent


@dataclass
class DgResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self):
        return json.loads(self.stdout[self.stdout.index("{"):])


def dg(args: list[str], cwd: Path, tmp_path: Path, pipelines_dir: Path | None = None,
       pythonpath: Path | None = None) -> DgResult:
    """`dg ARGS` in `cwd`, with a Dagster home of its own (no instance storage is needed to load)."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(BIN.parent),
           "DAGSTER_HOME": str(home), "NO_COLOR": "1"}
    if pipelines_dir is not None:
        env["CLEANOPS_PIPELINES_DIR"] = str(pipelines_dir)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    done = subprocess.run([str(BIN / "dg"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return DgResult(done.returncode, done.stdout, done.stderr)


def cleanops_project(*args: str, tmp_path: Path, pipelines_dir: Path | None = None) -> DgResult:
    return dg(list(args), settings.PROJECT_ROOT, tmp_path, pipelines_dir)


def make_project(root: Path, module: str = "pipeline_project") -> Path:
    """A new dg project of its own that uses CleanOps' components (as `dg scaffold project` lays one out)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "{module}"
        version = "0.0.0"

        [tool.dg]
        directory_type = "project"

        [tool.dg.project]
        root_module = "{module}"
        registry_modules = ["cleanops"]
        """))
    package = root / module
    (package / "defs").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(textwrap.dedent("""\
        from pathlib import Path

        import dagster as dg


        @dg.definitions
        def defs():
            return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
        """))
    return package / "defs"


def summary(listing: dict, groups: set[str] | None = None) -> dict:
    """What `dg list defs --json` lists, as sets to compare; when `groups` is given, only what the
    pipelines of those groups (slugs) define: their assets, their checks, and the job, schedule and
    sensors named after them."""
    def ours(name: str) -> bool:
        return groups is None or name.split("__")[0] in groups

    assets = {a["asset_key"]: tuple(sorted(a["dependency_keys"])) for a in listing["assets"]
              if groups is None or a.get("group_name") in groups}
    return {
        "assets": assets,
        "asset_checks": {c["key"] for c in listing["asset_checks"] if groups is None or c["asset_key"] in assets},
        "jobs": {j["name"] for j in listing["jobs"] if ours(j["name"])},
        "schedules": {(s["name"], s["cron_schedule"]) for s in listing["schedules"] if ours(s["name"])},
        "sensors": {s["name"] for s in listing["sensors"] if ours(s["name"])},
    }
