"""`cleanops/pipelines/` is the bottom layer: it reads pipeline files and names things, and imports
nothing from the layers built on it, so those layers can depend on it without cycles."""

import ast
from pathlib import Path

import cleanops.pipelines

PIPELINES = Path(cleanops.pipelines.__file__).parent
HIGHER_LAYERS = ("ingestion", "scheduling", "transform", "quality", "cleanup", "sources", "cli", "defs", "monitoring",
                 "definitions")


def _imported_modules(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found += [(node.lineno, module)]
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _higher_layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "cleanops" and parts[1] in HIGHER_LAYERS else None


def test_pipelines_layer_imports_no_higher_layer():
    files = sorted(PIPELINES.rglob("*.py"))
    assert len(files) >= 10
    offending = []
    for file in files:
        package = "cleanops." + ".".join(file.relative_to(PIPELINES.parent).with_suffix("").parts[:-1])
        for line, module in _imported_modules(ast.parse(file.read_text()), package):
            if _higher_layer(module):
                offending.append(f"{file.relative_to(PIPELINES.parent.parent)}:{line} imports {module}")
    assert offending == []


def test_the_walk_sees_an_import_of_a_higher_layer(tmp_path):
    """The check above would pass on a walk that finds nothing: make sure it finds each form."""
    sources = ["import cleanops.transform.models", "from cleanops.sources.sql import x",
               "from cleanops import quality", "def f():\n    from cleanops.ingestion import stage"]
    for source in sources:
        modules = [m for _, m in _imported_modules(ast.parse(source), "cleanops.pipelines")]
        assert any(_higher_layer(m) for m in modules), source
    relative = _imported_modules(ast.parse("from ..scheduling import policy"), "cleanops.pipelines")
    assert any(_higher_layer(m) for _, m in relative)
