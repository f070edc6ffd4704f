"""Retention policies, stored in `cleanops.cleanup_policies` and editable at run time.

The retention periods come from `retention_defaults.csv` (a copy of the project's
shared sample, shipped in the package so a clone works on its own); what each data type
covers (roots, patterns, run statuses) comes from `COVERAGE` below. Seeding only inserts
missing rows, so an operator's edits survive upgrades.

For runs, patterns match job names; for staged batches and quarantine, table names.

Roots may use placeholders ({home}, {logs}, {temp}, {landing}, {archives},
{compute_logs}, {dbt}) so the same policy works in every CLEANOPS_HOME; `roots.py`
refuses denied places and roots outside the allow-list. Patterns are globs matched
against the path relative to a root (`*` also crosses folders); an absolute pattern or
one with a `..` part is refused, because it could reach outside the root. Retention is a
whole number of days from 0 to 36,500, and a kind must fit the data type.

Every check runs when a policy is saved and again when a cleanup loads it (`select`), so
a row edited by hand in PostgreSQL is refused before anything of it is scanned.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from importlib import resources

import sqlalchemy as sa

from cleanops.cleanup import roots as roots_module
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
    retention_days: int
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
        return [expand_root(root, self.data_type) for root in self.roots]


MAX_RETENTION_DAYS = 36_500
ROOT_KINDS = ("files", "duplicates", "archives")


def validate_pattern(pattern: str) -> str:
    """Refuse patterns that could name something outside their root."""
    if not isinstance(pattern, str) or not pattern or "\x00" in pattern:
        raise PolicyError(f"empty or NUL-containing pattern {pattern!r}", "patterns")
    if pattern.startswith(("/", "\\", "~")) or os.path.isabs(pattern):
        raise PolicyError(f"pattern {pattern!r} is absolute; patterns are relative to a root", "patterns")
    if ".." in pattern.replace("\\", "/").split("/"):
        raise PolicyError(f"pattern {pattern!r} contains '..'; patterns may not leave their root", "patterns")
    return pattern


def placeholders() -> dict[str, str]:
    return roots_module.placeholders()


def expand_root(root: str, data_type: str = "") -> str:
    """A root with its placeholders filled and its parents resolved, once it passed the deny- and
    allow-lists (see `cleanup/roots.py`)."""
    return roots_module.check_root(root, data_type)


def retention_days(value: object, data_type: str = "") -> int:
    """A whole number of days from 0 to 36,500: a value the cutoff arithmetic can never overflow on.

    Fractions, inf, nan, 1e308, booleans and text are refused rather than rounded.
    """
    label = f"{data_type}: retention days" if data_type else "retention days"
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise PolicyError(f"{label} must be a whole number, not {value!r}", "retention_days")
    finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
    if not finite:
        raise PolicyError(f"{label} must be a finite number of days, not {value}", "retention_days")
    if not 0 <= value <= MAX_RETENTION_DAYS:
        raise PolicyError(f"{label} must be between 0 and {MAX_RETENTION_DAYS:,} (100 years), not {value}",
                          "retention_days")
    if value != int(value):
        raise PolicyError(f"{label} must be a whole number of days, not {value}", "retention_days")
    return int(value)


def validate_kind(policy: Policy) -> None:
    """The kind exists, matches a built-in data type's, and fits the fields the policy uses."""
    if policy.kind not in KINDS:
        raise PolicyError(f"{policy.data_type}: unknown kind {policy.kind!r}; kinds are {', '.join(KINDS)}", "kind")
    built_in = COVERAGE.get(policy.data_type, {}).get("kind")
    if built_in and policy.kind != built_in:
        raise PolicyError(f"{policy.data_type} is a built-in data type of kind {built_in!r}; "
                          f"kind {policy.kind!r} does not match it", "kind")
    if policy.roots and policy.kind not in ROOT_KINDS:
        raise PolicyError(f"{policy.data_type}: kind {policy.kind!r} takes no roots (roots are for "
                          f"{', '.join(ROOT_KINDS)})", "kind")
    if policy.kind in ("files", "duplicates") and not policy.roots:
        raise PolicyError(f"{policy.data_type}: a {policy.kind} policy needs at least one root", "roots")
    if policy.statuses and policy.kind != "runs":
        raise PolicyError(f"{policy.data_type}: run statuses apply to kind 'runs' only, not {policy.kind!r}",
                          "statuses")


def validate(policy: Policy) -> Policy:
    """Check every field; the retention days come back as an int. Raises PolicyError naming the field."""
    if not isinstance(policy.roots, list) or not isinstance(policy.patterns, list) \
            or not isinstance(policy.statuses, list):
        raise PolicyError(f"{policy.data_type}: roots, patterns and statuses must be lists", "roots")
    policy.retention_days = retention_days(policy.retention_days, policy.data_type)
    validate_kind(policy)
    for pattern in policy.patterns:
        validate_pattern(pattern)
    for root in policy.roots:
        expand_root(root, policy.data_type)
    bad = set(map(str, policy.statuses)) - set(TERMINAL_STATUSES)
    if bad:
        raise PolicyError(f"{policy.data_type}: only terminal run statuses may be cleaned, not {sorted(bad)}",
                          "statuses")
    return policy


def default_policies() -> list[Policy]:
    """The CSV's retention periods joined with COVERAGE.

    Not validated here: seeding runs before every CLI command (restore and history too), and a
    bad CLEANOPS_CLEANUP_ROOTS must not stop those; each cleanup validates what it loads.
    """
    text = (resources.files("cleanops.cleanup") / "retention_defaults.csv").read_text()
    rows = {row["data_type"]: row for row in csv.DictReader(text.splitlines())}
    policies = []
    for data_type, coverage in COVERAGE.items():
        row = rows.get(data_type, {})
        days = int(row.get("retention_days") or coverage.get("retention_days", 30))
        purpose = row.get("purpose") or coverage.get("purpose", "")
        policies.append(Policy(
            data_type=data_type, retention_days=days, kind=coverage["kind"], purpose=purpose,
            roots=list(coverage.get("roots", [])), patterns=list(coverage.get("patterns", [])),
            statuses=list(coverage.get("statuses", [])), enabled=coverage.get("enabled", True)))
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
        return [Policy(data_type=r.data_type, retention_days=_stored_days(r.retention_days), enabled=r.enabled,
                       kind=r.kind, purpose=r.purpose, roots=r.roots, patterns=r.patterns,
                       statuses=r.statuses, keep_last=r.keep_last) for r in rows]


def _stored_days(value: Decimal) -> int | float:
    """The stored retention as a number for display; `validate` refuses it later if it is bad."""
    try:
        return retention_days(value)
    except PolicyError:
        return float(value) if not value.is_snan() else math.nan


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


@dataclass
class Refusal:
    """A stored policy that failed validation when a cleanup loaded it: nothing of it is scanned."""

    data_type: str
    reason: str
    field: str | None = None


def select(engine: sa.Engine, options: CleanupOptions) -> tuple[list[Policy], list[Refusal]]:
    """Enabled policies the cleanup covers, each validated again as loaded, and those refused.

    A row edited in PostgreSQL may hold what `policy set` refuses (a root of `//`, infinite
    days). Such a policy is left out and reported, so it is never scanned and the other
    policies still run; the cleanup then ends `completed_with_errors`.
    """
    chosen, refused = [], []
    for policy in load(engine):
        if not policy.enabled or (options.data_types is not None and policy.data_type not in options.data_types):
            continue
        try:
            chosen.append(validate(policy))
        except PolicyError as error:
            refused.append(Refusal(policy.data_type, str(error), error.field))
    return chosen, refused


def selected(engine: sa.Engine, options: CleanupOptions) -> list[Policy]:
    """The valid policies of `select` (the scan phase reports the refused ones)."""
    return select(engine, options)[0]
