"""What a pipeline file may name outside itself: which files it may read, which tables it may write.

A pipeline file is configuration, but it decides what CleanOps reads from disk and what dbt
replaces in the warehouse. Left open, `path: /etc/passwd` stages the machine's accounts and
`table: cleanops.quality_results` replaces CleanOps' own history. So:

- file sources are confined to *source roots*: the pipeline file's folder, the pipelines
  folder, CleanOps' landing folder and the folders an administrator lists in
  CLEANOPS_SOURCE_ROOTS. Paths are resolved (symlinks, `..`) before they are compared, at
  validation and again when the files are read, since a symlink can change in between.
- destinations are confined to *destination schemas*: `marts` plus those an administrator
  lists in CLEANOPS_DESTINATION_SCHEMAS; CleanOps' own schemas and PostgreSQL's catalogs
  are refused even when listed.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from cleanops import settings
from cleanops.pipelines.naming import DEFAULT_DESTINATION_SCHEMA as MARTS_SCHEMA, destination_relation

RESERVED_SCHEMAS = frozenset({"cleanops", "cleanops_archive", "staging", "quarantine", "transform",
                              "information_schema"})
RESERVED_SCHEMA_PREFIX = "pg_"


class OutsideRootsError(ValueError):
    """A source path (or a file it matches) resolves outside every source root."""


# --- destinations ------------------------------------------------------------------------

def is_reserved_schema(schema: str) -> bool:
    """CleanOps' own schemas and PostgreSQL's catalogs: never a pipeline's to write."""
    lowered = schema.lower()
    return lowered in RESERVED_SCHEMAS or lowered.startswith(RESERVED_SCHEMA_PREFIX)


def destination_schemas() -> tuple[str, ...]:
    """The schemas destinations may write: marts plus the administrator's list, minus reserved ones."""
    return (MARTS_SCHEMA, *(s for s in settings.destination_schemas() if not is_reserved_schema(s)))


def destination_problem(table: str) -> str | None:
    """Why a destination table may not be written, or None when it may."""
    schema, _ = destination_relation(table)
    allowed = destination_schemas()
    if is_reserved_schema(schema):
        return (f"schema {schema!r} belongs to CleanOps or PostgreSQL and cannot be a destination "
                f"(allowed: {', '.join(allowed)})")
    if schema not in allowed:
        return (f"schema {schema!r} is not a destination schema (allowed: {', '.join(allowed)}; "
                f"an administrator may add schemas in CLEANOPS_DESTINATION_SCHEMAS)")
    return None


# --- source files ------------------------------------------------------------------------

def expand_path(path: str) -> str:
    """`~`, `${VAR}` and `${CLEANOPS_HOME}` in a pipeline file's paths, as a run expands them.

    CLEANOPS_HOME means the same folder whether or not it is set (plain `dagster dev` leaves it unset).
    """
    path = path.replace("${CLEANOPS_HOME}", str(settings.home()))
    return os.path.expanduser(os.path.expandvars(path))


def source_roots(base_dir: Path) -> list[Path]:
    """Folders file sources may read, resolved: the pipeline file's folder, the pipelines folder,
    the landing folder and CLEANOPS_SOURCE_ROOTS."""
    candidates = [base_dir, settings.pipelines_dir(), settings.paths().landing, *settings.source_roots()]
    return list(dict.fromkeys(Path(os.path.realpath(folder)) for folder in candidates))


def is_inside(path: Path, roots: list[Path]) -> bool:
    real = Path(os.path.realpath(path))
    return any(real == root or real.is_relative_to(root) for root in roots)


def absolute_pattern(path: str, base_dir: Path) -> Path:
    """A source path or glob as an absolute pattern, expanded and anchored at the pipeline file's folder."""
    pattern = Path(expand_path(path))
    return pattern if pattern.is_absolute() else base_dir / pattern


def fixed_prefix(pattern: Path) -> Path:
    """The part of a glob before its first wildcard: the folder every match lies under."""
    parts = pattern.parts
    for index, part in enumerate(parts):
        if glob.has_magic(part):
            return Path(*parts[:index])
    return pattern


def source_path_problem(path: str, base_dir: Path) -> str | None:
    """Why a file source's path may not be read, or None. Checks what is knowable before reading:
    the path (or the fixed part of a glob) resolved, and no `..` after a wildcard."""
    try:
        return _source_path_problem(path, base_dir)
    except (ValueError, OSError) as error:  # a NUL byte, a lone surrogate, a name the OS refuses
        return f"{path!r} is not a usable path: {error}"


def _source_path_problem(path: str, base_dir: Path) -> str | None:
    pattern = absolute_pattern(path, base_dir)
    prefix = fixed_prefix(pattern)
    if prefix != pattern and ".." in pattern.parts[len(prefix.parts):]:
        return f"{path!r}: '..' after a wildcard could match files anywhere; name the folder without it"
    roots = source_roots(base_dir)
    if not is_inside(prefix, roots):
        return (f"{path!r} resolves to {os.path.realpath(prefix)}, outside the source roots "
                f"({', '.join(map(str, roots))}); an administrator may add roots in CLEANOPS_SOURCE_ROOTS")
    return None


def check_inside_roots(files: list[Path], base_dir: Path, what: str) -> None:
    """Refuse, naming them, the files that resolve outside the source roots (a symlink out, say)."""
    roots = source_roots(base_dir)
    try:
        outside = [f for f in files if not is_inside(f, roots)]
    except (ValueError, OSError) as error:
        raise OutsideRootsError(f"{what}: not a usable path: {error}") from error
    if outside:
        shown = ", ".join(f"{f} -> {os.path.realpath(f)}" for f in outside[:5])
        more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        raise OutsideRootsError(f"{what}: refused, outside the source roots ({', '.join(map(str, roots))}): "
                                f"{shown}{more}")
