"""Every shipped pipeline that `make dev` schedules can run there: its connections are provided.

A schedule that is on by default fires under `make dev`; if its pipeline reads a
connection or `${VAR}` the Makefile does not set, every tick is a failed run. Such a
pipeline must ship with its schedule off.
"""

from __future__ import annotations

import re
from pathlib import Path

from cleanops.pipelines.loader import discover_files, load_files
from cleanops.pipelines.schema import ApiSource, SqlSource
from cleanops.scheduling import policy
from cleanops.sources.sql import connection_variable

REPO = Path(__file__).resolve().parents[2]
_VARIABLE_LINE = re.compile(r"^([A-Z_][A-Z0-9_]*)\s*:?=\s*(.*)$")
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def recipe(makefile: str, target: str) -> str:
    """The target's recipe with `$(VAR)` expanded from the Makefile's own variables."""
    variables = {m.group(1): m.group(2) for line in makefile.splitlines() if (m := _VARIABLE_LINE.match(line))}
    lines = makefile.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    body = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        body.append(line)
    text = "\n".join(body)
    for _ in range(3):
        text = re.sub(r"\$\((\w+)\)", lambda m: variables.get(m.group(1), m.group(0)), text)
    return text


def provided_by(target: str) -> set[str]:
    """Environment variables the Makefile target sets for the commands it runs."""
    return set(re.findall(r"\b([A-Z][A-Z0-9_]*)=", recipe((REPO / "Makefile").read_text(), target)))


def variables_needed(spec) -> set[str]:
    needed = set()
    for source in spec.data_sources:
        if isinstance(source, SqlSource):
            needed.add(connection_variable(source.connection))
        elif isinstance(source, ApiSource):
            for value in [*source.headers.values(), *source.params.values()]:
                needed.update(_ENV_REFERENCE.findall(str(value)))
    return needed


def test_the_makefile_parse_sees_the_seed_connection():
    assert "CLEANOPS_CONN_PROD_USER_DB" in provided_by("dev")


def test_scheduled_shipped_pipelines_have_their_connections_under_make_dev():
    result = load_files(discover_files(REPO / "pipelines"))
    assert not result.errors and result.pipelines
    provided = provided_by("dev")
    missing = {p.spec.pipeline_id: sorted(variables_needed(p.spec) - provided)
               for p in result.pipelines if policy.is_active(p.spec)}
    assert not {pipeline: names for pipeline, names in missing.items() if names}
