"""Retention policies, stored in `cleanops.cleanup_policies` and editable at run time.

The retention periods come from `retention_defaults.csv` (a copy of the project's
shared sample, shipped in the package so a clone works on its own); what each data type
covers (roots, patterns, run statuses) comes from `COVERAGE` below. Seeding only inserts
missing rows, so an operator's edits survive upgrades.

For runs, patterns match job names; for staged batches and quarantine, table names.

Roots may use placeholders ({home}, {logs}, {temp}, {landing}, {archives},
{compute_logs}, {dbt}) so the same policy works in every CLEANOPS_HOME. Patterns are
globs matched against the path relative to a root (`*` also crosses folders); an
absolute pattern or one with a `..` part is refused, because it could reach outside
the root.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources

import sqlalchemy as sa

from cleanops import settings
from cleanops.cleanup.models import CleanupOptions, PolicyError

KINDS = ("runs", "files", "staged_batches", "quarantine", "archives", "duplicates", "event_logs")
TERMINAL_STATUSES = ("SUCCESS", "FAILURE", "CANCELED")

# What each data type covers. Types missing from the CSV get the retention given here.
COVERAGE: dict[str, dict] = {
    "pipeline_operations": {"kind": "runs", "statuses": ["CANCELED"]},
    "failed_operations": {"kind": "runs", "statuses": ["FAILURE"]},
    "completed_operations": {"kind": "runs", "statuses": ["SUCCESS"]},
    "dbt_logs": {"kind": "files", "roots": ["{dbt}/logs", "{dbt}/target"],
                 "patterns": ["*.log", "*.log.*", "run/*", "compiled/*"]},
    "system_logs": {"kind": "files", "roots": ["{logs}"], "patterns": ["*.log", "*.log.*"]},
    "temp_files": {"kind": "files", "roots": ["{temp}", "{landing}/processed"], "patterns": ["*"]},
    "cleanup_backups": {"kind": "archives", "roots": ["{archives}"]},
    "staged_batches": {"kind": "staged_batches", "retention_days": 30,
                       "purpose": "Staged warehouse batches superseded by a later batch"},
    "reviewed_quarantine": {"kind": "quarantine", "retention_days": 30,
                            "purpose": "Quarantine rows reviewed (accepted or replayed)"},
    "duplicate_files": {"kind": "duplicates", "retention_days": 7, "roots": ["{landing}"], "enabled": False,
                        "purpose": "Identical copies (same sha256) of landing files; opt-in"},
    "event_log_chatter": {"kind": "event_logs", "retention_days": 7,
                          "purpose": "DEBUG messages and engine events of finished runs (the runs stay)"},
}


@dataclass
class Policy:
    data_type: str
    retention_days: float
    kind: str
    enabled: bool = True
    purpose: str = ""
    roots: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    keep_last: int = 0

    def effective_days(self, options: CleanupOptions) -> float:
        """Emergency cleanups shorten retention by a factor; nothing else changes."""
        if options.cleanup_type == "emergency":
            return self.retention_days * options.emergency_factor
        return self.retention_days

    def cutoff(self, options: CleanupOptions) -> datetime:
        return options.now - timedelta(days=self.effective_days(options))

    def expanded_roots(self) -> list[str]:
        return [expand_root(root) for root in self.roots]


def validate_pattern(pattern: str) -> str:
    """Refuse patterns that could name something outside their root."""
    if not pattern or "\x00" in pattern:
        raise PolicyError(f"empty or NUL-containing pattern {pattern!r}")
    if pattern.startswith(("/", "\\", "~")) or os.path.isabs(pattern):
        raise PolicyError(f"pattern {pattern!r} is absolute; patterns are relative to a root")
    if ".." in pattern.replace("\\", "/").split("/"):
        raise PolicyError(f"pattern {pattern!r} contains '..'; patterns may not leave their root")
    return pattern


def placeholders() -> dict[str, str]:
    p = settings.paths()
    return {"home": str(p.home), "logs": str(p.logs), "temp": str(p.temp), "landing": str(p.landing),
            "archives": str(p.archives), "compute_logs": str(p.compute_logs), "dbt": str(settings.dbt_project_dir())}


def expand_root(root: str) -> str:
    """A root with its placeholders filled; it must be absolute, normal and not `/`."""
    try:
        expanded = root.format(**placeholders())
    except (KeyError, IndexError, ValueError) as error:
        raise PolicyError(f"unknown placeholder in root {root!r}: {error}") from None
    if not os.path.isabs(expanded):
        raise PolicyError(f"root {root!r} is not absolute")
    if ".." in expanded.split("/"):
        raise PolicyError(f"root {root!r} contains '..'")
    normal = os.path.normpath(expanded)
    if normal == "/":
        raise PolicyError("the file system root cannot be a cleanup root")
    return normal


def validate(policy: Policy) -> Policy:
    if policy.kind not in KINDS:
        raise PolicyError(f"{policy.data_type}: unknown kind {policy.kind!r}")
    if policy.retention_days < 0 or math.isnan(policy.retention_days):
        raise PolicyError(f"{policy.data_type}: retention days must be >= 0")
    for pattern in policy.patterns:
        validate_pattern(pattern)
    for root in policy.roots:
        expand_root(root)
    bad = set(policy.statuses) - set(TERMINAL_STATUSES)
    if bad:
        raise PolicyError(f"{policy.data_type}: only terminal run statuses may be cleaned, not {sorted(bad)}")
    return policy


def default_policies() -> list[Policy]:
    """The CSV's retention periods joined with COVERAGE."""
    text = (resources.files("cleanops.cleanup") / "retention_defaults.csv").read_text()
    rows = {row["data_type"]: row for row in csv.DictReader(text.splitlines())}
    policies = []
    for data_type, coverage in COVERAGE.items():
        row = rows.get(data_type, {})
        days = float(row.get("retention_days") or coverage.get("retention_days", 30))
        purpose = row.get("purpose") or coverage.get("purpose", "")
        policies.append(validate(Policy(
            data_type=data_type, retention_days=days, kind=coverage["kind"], purpose=purpose,
            roots=list(coverage.get("roots", [])), patterns=list(coverage.get("patterns", [])),
            statuses=list(coverage.get("statuses", [])), enabled=coverage.get("enabled", True))))
    return policies


_COLUMNS = "data_type, retention_days, enabled, kind, purpose, roots, patterns, statuses, keep_last"


def seed(engine: sa.Engine) -> int:
    """Insert the default policies that are missing; returns how many were added."""
    added = 0
    with engine.begin() as conn:
        for p in default_policies():
            result = conn.execute(sa.text(
                f"INSERT INTO cleanops.cleanup_policies ({_COLUMNS}, updated_by) VALUES (:data_type, :days, "
                ":enabled, :kind, :purpose, CAST(:roots AS jsonb), CAST(:patterns AS jsonb), "
                "CAST(:statuses AS jsonb), :keep_last, 'seed') ON CONFLICT (data_type) DO NOTHING"),
                _params(p))
            added += result.rowcount or 0
    return added


def _params(p: Policy) -> dict:
    return {"data_type": p.data_type, "days": p.retention_days, "enabled": p.enabled, "kind": p.kind,
            "purpose": p.purpose, "roots": json.dumps(p.roots), "patterns": json.dumps(p.patterns),
            "statuses": json.dumps(p.statuses), "keep_last": p.keep_last}


def load(engine: sa.Engine) -> list[Policy]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM cleanops.cleanup_policies ORDER BY data_type"))
        return [Policy(data_type=r.data_type, retention_days=float(r.retention_days), enabled=r.enabled,
                       kind=r.kind, purpose=r.purpose, roots=list(r.roots), patterns=list(r.patterns),
                       statuses=list(r.statuses), keep_last=r.keep_last) for r in rows]


def save(engine: sa.Engine, policy: Policy, updated_by: str) -> Policy:
    """Insert or replace one policy after validating it (unsafe patterns never reach the table)."""
    validate(policy)
    with engine.begin() as conn:
        conn.execute(sa.text(
            f"INSERT INTO cleanops.cleanup_policies ({_COLUMNS}, updated_by) VALUES (:data_type, :days, :enabled, "
            ":kind, :purpose, CAST(:roots AS jsonb), CAST(:patterns AS jsonb), CAST(:statuses AS jsonb), "
            ":keep_last, :by) ON CONFLICT (data_type) DO UPDATE SET retention_days = EXCLUDED.retention_days, "
            "enabled = EXCLUDED.enabled, kind = EXCLUDED.kind, purpose = EXCLUDED.purpose, roots = EXCLUDED.roots, "
            "patterns = EXCLUDED.patterns, statuses = EXCLUDED.statuses, keep_last = EXCLUDED.keep_last, "
            "updated_at = now(), updated_by = EXCLUDED.updated_by"), {**_params(policy), "by": updated_by})
    return policy


def get(engine: sa.Engine, data_type: str) -> Policy:
    for policy in load(engine):
        if policy.data_type == data_type:
            return policy
    raise PolicyError(f"no cleanup policy for data type {data_type!r}")


def selected(engine: sa.Engine, options: CleanupOptions) -> list[Policy]:
    """Enabled policies the cleanup covers, each re-validated (a bad row stops the cleanup)."""
    chosen = []
    for policy in load(engine):
        if not policy.enabled or (options.data_types is not None and policy.data_type not in options.data_types):
            continue
        chosen.append(validate(policy))
    return chosen
