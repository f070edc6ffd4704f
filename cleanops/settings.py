"""Where CleanOps keeps things, read from the environment.

Every path and URL the product uses is derived here, so the CLI, the Dagster code
location and the tests agree on one picture:

- CLEANOPS_HOME: the project's own folder (embedded database, Dagster storage, logs,
  archives). Defaults to `.cleanops/` in the project root.
- CLEANOPS_DATABASE_URL: a user's own PostgreSQL server. When set, the warehouse is the
  database it names and the Dagster instance uses a database beside it
  (`<name>_dagster`, or CLEANOPS_INSTANCE_DATABASE_URL), and nothing is started.
- CLEANOPS_PIPELINES_DIR: the folder of pipeline files (default `pipelines/`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

WAREHOUSE_DATABASE = "cleanops_warehouse"
INSTANCE_DATABASE = "cleanops_dagster"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Paths:
    """The folders CleanOps writes to, all under CLEANOPS_HOME unless overridden."""

    home: Path

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def dagster_storage(self) -> Path:
        return self.home / "dagster" / "storage"

    @property
    def compute_logs(self) -> Path:
        return self.home / "dagster" / "compute_logs"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def archives(self) -> Path:
        return self.home / "archives"

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def temp(self) -> Path:
        return self.home / "tmp"


def home() -> Path:
    return _env_path("CLEANOPS_HOME", PROJECT_ROOT / ".cleanops")


def paths() -> Paths:
    return Paths(home())


def pipelines_dir() -> Path:
    return _env_path("CLEANOPS_PIPELINES_DIR", PROJECT_ROOT / "pipelines")


def external_database_url() -> str | None:
    """The user's own server, if they named one."""
    return os.environ.get("CLEANOPS_DATABASE_URL") or None


def dbt_project_dir() -> Path:
    return _env_path("CLEANOPS_DBT_PROJECT_DIR", PROJECT_ROOT / "cleanops_dbt")


def cleanup_roots() -> list[str]:
    """Folders an administrator allows cleanup roots in (CLEANOPS_CLEANUP_ROOTS, os.pathsep-separated).

    CleanOps' own folders (tmp, landing, logs, archives, compute logs, dbt logs) are always
    allowed; this adds more. The entries are returned as given: cleanup checks and resolves them.
    """
    value = os.environ.get("CLEANOPS_CLEANUP_ROOTS", "")
    return [entry for entry in value.split(os.pathsep) if entry.strip()]


def destination_schemas() -> tuple[str, ...]:
    """CLEANOPS_DESTINATION_SCHEMAS: comma-separated schemas, besides `marts`, that destinations may write."""
    value = os.environ.get("CLEANOPS_DESTINATION_SCHEMAS", "")
    return tuple(name.strip() for name in value.split(",") if name.strip())


def source_roots() -> tuple[Path, ...]:
    """CLEANOPS_SOURCE_ROOTS: folders (os.pathsep-separated) file sources may read, besides the
    pipelines folder and the landing folder."""
    value = os.environ.get("CLEANOPS_SOURCE_ROOTS", "")
    return tuple(Path(part).expanduser().resolve() for part in value.split(os.pathsep) if part.strip())


def metrics_interval_minutes() -> int:
    """CLEANOPS_METRICS_INTERVAL_MINUTES: how often the metrics schedule collects (default 5).

    1-59, or a whole number of hours up to 1440 (one cron expression can say either); any
    other value raises ValueError naming the variable.
    """
    value = os.environ.get("CLEANOPS_METRICS_INTERVAL_MINUTES", "").strip() or "5"
    minutes = int(value) if value.isascii() and value.isdigit() else -1
    if not (1 <= minutes < 60 or (minutes % 60 == 0 and 60 <= minutes <= 1440)):
        raise ValueError(f"CLEANOPS_METRICS_INTERVAL_MINUTES={value!r}: expected 1-59 minutes "
                         "or a whole number of hours up to 1440")
    return minutes


def _env_list(name: str) -> list[str]:
    value = os.environ.get(name, "")
    return [part.strip() for part in value.split(",") if part.strip()]


def notify_smtp_url() -> str | None:
    """CLEANOPS_NOTIFY_SMTP_URL: the SMTP server alert e-mails go through, e.g.
    `smtp://user:password@mail.example.com:587?from=cleanops@example.com` (`smtps://` for
    TLS from the start, `starttls` is used on `smtp://` when the server offers it). Unset:
    e-mail recipients are recorded as failed notifications ("no SMTP server configured")."""
    return os.environ.get("CLEANOPS_NOTIFY_SMTP_URL", "").strip() or None


def notify_default_to() -> list[str]:
    """CLEANOPS_NOTIFY_DEFAULT_TO: comma-separated recipients (e-mail addresses or apprise
    URLs) told about every alert, besides the pipeline file's `notifications.on_failure`."""
    return _env_list("CLEANOPS_NOTIFY_DEFAULT_TO")


def notify_webhook_url() -> str | None:
    """CLEANOPS_NOTIFY_WEBHOOK_URL: an http(s) URL that receives every alert as a JSON POST."""
    return os.environ.get("CLEANOPS_NOTIFY_WEBHOOK_URL", "").strip() or None


def notify_attempts() -> int:
    """CLEANOPS_NOTIFY_ATTEMPTS: tries per message and target (default 3, 1-10)."""
    value = os.environ.get("CLEANOPS_NOTIFY_ATTEMPTS", "").strip() or "3"
    attempts = int(value) if value.isascii() and value.isdigit() else -1
    if not 1 <= attempts <= 10:
        raise ValueError(f"CLEANOPS_NOTIFY_ATTEMPTS={value!r}: expected 1-10")
    return attempts


def notify_backoff_seconds() -> float:
    """CLEANOPS_NOTIFY_BACKOFF_SECONDS: wait before the second try, doubled before each next
    one (default 2; 0-60)."""
    value = os.environ.get("CLEANOPS_NOTIFY_BACKOFF_SECONDS", "").strip() or "2"
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 60:
        raise ValueError(f"CLEANOPS_NOTIFY_BACKOFF_SECONDS={value!r}: expected 0-60 seconds")
    return seconds


def alert_disabled_rules() -> set[str]:
    """CLEANOPS_ALERT_DISABLED_RULES: comma-separated alert rules to switch off
    (`run_failure`, `check_failed_blocking`, `check_failed_warning`, `slow_run`, `rows_rejected`,
    `overdue`, `disk_usage`, `memory_usage`)."""
    return set(_env_list("CLEANOPS_ALERT_DISABLED_RULES"))


def ui_url() -> str:
    """CLEANOPS_UI_URL: where people open the Dagster UI, for the links in alert messages
    (default http://localhost:3000, what `cleanops dev` serves)."""
    return (os.environ.get("CLEANOPS_UI_URL", "").strip() or "http://localhost:3000").rstrip("/")


def _env_float(name: str, default: float, low: float, high: float) -> float:
    value = os.environ.get(name, "").strip() or str(default)
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not low <= number <= high:
        raise ValueError(f"{name}={value!r}: expected a number from {low:g} to {high:g}")
    return number


def alert_slow_run_factor() -> float:
    """CLEANOPS_ALERT_SLOW_RUN_FACTOR: a successful run is slow beyond this multiple of the
    median of its pipeline's last 20 successful runs (default 3; 1-1000)."""
    return _env_float("CLEANOPS_ALERT_SLOW_RUN_FACTOR", 3.0, 1.0, 1000.0)


def alert_slow_run_min_seconds() -> float:
    """CLEANOPS_ALERT_SLOW_RUN_MIN_SECONDS: runs shorter than this are never slow (default 60),
    so a 2 s run taking 7 s raises nothing."""
    return _env_float("CLEANOPS_ALERT_SLOW_RUN_MIN_SECONDS", 60.0, 0.0, 86400.0 * 7)


def alert_rejected_share() -> float:
    """CLEANOPS_ALERT_REJECTED_SHARE: an ingestion load whose rejected rows exceed this share
    of the rows read raises an alert (default 0.05 = 5 %; 0-1)."""
    return _env_float("CLEANOPS_ALERT_REJECTED_SHARE", 0.05, 0.0, 1.0)


def alert_disk_percent() -> float:
    """CLEANOPS_ALERT_DISK_PERCENT: the file system of CLEANOPS_HOME fuller than this raises
    the `disk_usage` alert (default 90; 0-100)."""
    return _env_float("CLEANOPS_ALERT_DISK_PERCENT", 90.0, 0.0, 100.0)


def alert_memory_percent() -> float:
    """CLEANOPS_ALERT_MEMORY_PERCENT: memory in use above this raises the `memory_usage`
    alert (default 95; 0-100)."""
    return _env_float("CLEANOPS_ALERT_MEMORY_PERCENT", 95.0, 0.0, 100.0)
