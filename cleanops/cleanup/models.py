"""The small value types every cleanup phase passes around.

A `Candidate` is one object a policy may delete: a file, a Dagster run (with its event
log rows), a staged warehouse batch, a table's reviewed quarantine rows, or an old
cleanup archive. Candidates are written to a JSON-lines plan file, not kept in memory,
so a cleanup of a million objects uses as little memory as one of a thousand.
"""

from __future__ import annotations

import getpass
import json
import math
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from cleanops import settings

CLEANUP_TYPES = ("automatic", "manual", "emergency")


class CleanupError(RuntimeError):
    """A cleanup could not start or finish; the message says why."""


class PolicyError(ValueError):
    """A policy is unsafe or malformed (a denied root, an absolute or `..` pattern, an unknown type).

    `field` names the policy field at fault (roots, patterns, retention_days, kind, statuses),
    so the CLI can name the option the user gave.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CleanupAlreadyRunning(CleanupError):
    """Another cleanup holds the advisory lock."""


@dataclass(slots=True)
class Candidate:
    """One object a cleanup may delete, and why."""

    data_type: str
    kind: str            # file | run | staged_batch | quarantine_rows | archive
    key: str             # unique within a cleanup: the path, run id, table#batch ...
    reason: str
    size: int = 0
    path: str | None = None  # files: os.fsdecode() of the absolute path (surrogateescape keeps raw bytes)
    root: str | None = None
    mtime_ns: int = 0
    ino: int = 0
    dev: int = 0
    owner: str | None = None  # files that belong to a run (compute logs): the run id
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({name: getattr(self, name) for name in _CANDIDATE_FIELDS}, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> "Candidate":
        return cls(**json.loads(line))

    @property
    def display(self) -> str:
        """The object as text that PostgreSQL and terminals accept (raw bytes shown as \\xNN)."""
        if self.path is None:
            return self.key
        return os.fsencode(self.path).decode("utf-8", "backslashreplace").replace("\n", "\\n")


_CANDIDATE_FIELDS = tuple(Candidate.__dataclass_fields__)


DEFAULT_EMERGENCY_FACTOR = 0.5  # an emergency cleanup halves every retention period


def emergency_factor_setting() -> float:
    """CLEANOPS_EMERGENCY_FACTOR (default DEFAULT_EMERGENCY_FACTOR): how much an emergency
    cleanup shortens retention."""
    value = settings.current().emergency_factor
    if value is None:
        value = str(DEFAULT_EMERGENCY_FACTOR)
    try:
        factor = float(value)
    except ValueError:
        factor = math.nan
    if not 0 < factor <= 1:
        raise CleanupError(f"CLEANOPS_EMERGENCY_FACTOR must be a number in (0, 1], not {value!r}")
    return factor


@dataclass
class CleanupOptions:
    """How one cleanup runs; the CLI flags and the Dagster op config map onto this."""

    cleanup_type: str = "manual"
    dry_run: bool = True
    archive: bool = True                 # backups are skipped only when the user says so
    emergency_factor: float = DEFAULT_EMERGENCY_FACTOR  # emergency: retention_days * factor
    batch_size: int = 500                # objects (or rows) per transaction / per commit
    rate_limit: float = 0.0              # objects per second, 0 = unlimited
    data_types: list[str] | None = None  # None = every enabled policy
    started_by: str = field(default_factory=lambda: settings.current().user or getpass.getuser())
    now: datetime | None = None

    def __post_init__(self) -> None:
        if self.cleanup_type not in CLEANUP_TYPES:
            raise CleanupError(f"cleanup type must be one of {CLEANUP_TYPES}, not {self.cleanup_type!r}")
        if self.batch_size < 1:
            raise CleanupError("batch size must be at least 1")
        if not (isinstance(self.emergency_factor, (int, float)) and 0 < self.emergency_factor <= 1):
            raise CleanupError("the emergency factor must be in (0, 1]")
        if self.now is None:
            self.now = datetime.now(timezone.utc)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["now"] = self.now.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "CleanupOptions":
        data = dict(data)
        data["now"] = datetime.fromisoformat(data["now"])
        return cls(**data)
