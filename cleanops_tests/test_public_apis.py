"""CleanOps uses Dagster and dagster-dbt through their public APIs only.

Private modules (`dagster._…`) and private attributes of public classes change without
notice between releases; an upgrade must not break CleanOps silently.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cleanops

PACKAGE = Path(cleanops.__file__).parent
PRIVATE_MODULE_ROOTS = ("dagster", "dagster_dbt", "dagster_graphql", "dagster_webserver", "dagster_shared",
                        "dagster_postgres")
DBT_NAMES = {"DbtCliResource", "DbtProject", "DagsterDbtTranslator", "dagster_dbt"}


def _is_private_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] in PRIVATE_MODULE_ROOTS and any(part.startswith("_") for part in parts[1:])


def _private_uses(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names if _is_private_module(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if _is_private_module(node.module):
                found.append((node.lineno, f"from {node.module} import ..."))
            elif node.module.split(".")[0] in PRIVATE_MODULE_ROOTS:
                found += [(node.lineno, f"from {node.module} import {a.name}") for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
        elif isinstance(node, ast.ClassDef):
            found += _private_overrides(node)
    return found


def _private_overrides(node: ast.ClassDef) -> list[tuple[int, str]]:
    """A subclass of a dagster-dbt class that defines a private (single-underscore) member."""
    bases = {base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "") for base in node.bases}
    if not bases & DBT_NAMES:
        return []
    return [(item.lineno, f"{node.name}.{item.name} overrides a private dagster-dbt member")
            for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
            and item.name.startswith("_") and not item.name.startswith("__")]


def test_the_checker_finds_private_imports():
    source = ("import dagster._core.launcher\nfrom dagster._utils import x\nfrom dagster import _check\n"
              "from dagster_dbt import DbtCliResource\nclass R(DbtCliResource):\n    def _cli_version(self): ...\n"
              "import dagster as dg\nfrom cleanops._x import y\n")
    assert [line for line, _ in _private_uses(ast.parse(source))] == [1, 2, 3, 6]


def test_no_module_of_cleanops_uses_private_dagster_apis():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, what in _private_uses(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {what}")
    assert not offenders, "private Dagster APIs used:\n" + "\n".join(offenders)
