"""Where CleanOps keeps things and how it behaves, read from the environment in one place.

`Settings` (pydantic-settings, prefix `CLEANOPS_`) is the only reader of CleanOps' own
variables; every other module asks it, so the CLI, the Dagster code location and the tests
agree on one picture. `current()` reads the environment at each call: tests and the CLI
change variables between calls, and reading a few variables is cheap.

- CLEANOPS_HOME: the project's own folder (embedded database, Dagster storage, logs,
  archives). Defaults to `.cleanops/` in the project root.
- CLEANOPS_DATABASE_URL: a user's own PostgreSQL server. When set, the warehouse is the
  database it names and the Dagster instance uses a database beside it
  (`<name>_dagster`, or CLEANOPS_INSTANCE_DATABASE_URL), and nothing is started.
- CLEANOPS_PIPELINES_DIR: the folder of pipeline files (default `pipelines/`).
- CLEANOPS_CONN_<NAME>: the URL of a pipeline's connection `<name>` (`connection_variable_value`).

Values that can be malformed (numbers) are kept as text and checked when asked for, so a bad
value fails only what uses it (an emergency cleanup, not loading the code location), with a
message naming the variable.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

WAREHOUSE_DATABASE = "cleanops_warehouse"
INSTANCE_DATABASE = "cleanops_dagster"
PREFIX = "CLEANOPS_"
CONNECTION_PREFIX = PREFIX + "CONN_"
SAMPLE_SOURCE_DATABASE = "cleanops_sample_source"


class SettingError(ValueError):
    """A CLEANOPS_* variable holds a value of the wrong kind; the message names the variable."""


def variable(field: str) -> str:
    """The environment variable behind a settings field (`home` → `CLEANOPS_HOME`)."""
    return PREFIX + field.upper()


_KINDS = {float: "a number", int: "a whole number"}


def _typed(field: str, raw: str | None, kind: type, default: Any) -> Any:
    """`raw` as `kind` (pydantic's conversion), `default` when unset or blank; pydantic's error
    becomes a `SettingError` naming the variable."""
    if raw is None or not raw.strip():
        return default
    try:
        return TypeAdapter(kind).validate_python(raw.strip())
    except ValidationError as error:
        raise SettingError(f"{variable(field)} must be {_KINDS.get(kind, kind.__name__)}, not {raw!r}") from error


class Settings(BaseSettings):
    """CleanOps' environment variables, as given (text); the methods give them their meaning."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True)

    home: str | None = None
    pipelines_dir: str | None = None
    dbt_project_dir: str | None = None
    database_url: str | None = None
    instance_database_url: str | None = None
    cleanup_roots: str = ""
    destination_schemas: str = ""
    source_roots: str = ""
    hmac_key: str | None = None
    sample_source_database: str = SAMPLE_SOURCE_DATABASE
    dependency_interval_seconds: str | None = None
    cleanup_timezone: str = "UTC"
    cleanup_rate_limit: str | None = None
    emergency_disk_percent: str | None = None
    emergency_disk_path: str | None = None
    emergency_factor: str | None = None
    user: str | None = None
    metrics_interval_minutes: str | None = None
    notify_smtp_url: str | None = None
    notify_default_to: str | None = None
    notify_webhook_url: str | None = None
    notify_attempts: str | None = None
    notify_backoff_seconds: str | None = None
    alert_disabled_rules: str | None = None
    ui_url: str | None = None
    alert_slow_run_factor: str | None = None
    alert_slow_run_min_seconds: str | None = None
    alert_rejected_share: str | None = None
    alert_disk_percent: str | None = None
    alert_memory_percent: str | None = None

    @staticmethod
    def _path(raw: str | None, default: Path) -> Path:
        return Path(raw).expanduser().resolve() if raw else default

    def home_folder(self) -> Path:
        return self._path(self.home, PROJECT_ROOT / ".cleanops")

    def pipelines_folder(self) -> Path:
        return self._path(self.pipelines_dir, PROJECT_ROOT / "pipelines")

    def dbt_project_folder(self) -> Path:
        return self._path(self.dbt_project_dir, PROJECT_ROOT / "cleanops_dbt")

    def dependency_interval(self) -> int:
        """How often dependency conditions are evaluated (Dagster's default is 30 s; tests lower it)."""
        return _typed("dependency_interval_seconds", self.dependency_interval_seconds, int, 15)

    def cleanup_throttle(self) -> float | None:
        """Objects per second a cleanup deletes, overriding the run's own option (None: not set)."""
        return _typed("cleanup_rate_limit", self.cleanup_rate_limit, float, None)

    def emergency_disk_threshold(self) -> float:
        return _typed("emergency_disk_percent", self.emergency_disk_percent, float, 90.0)


def current() -> Settings:
    """The settings as the environment holds them now.

    Building `Settings` costs milliseconds, and hot paths (a file of a cleanup, a batch of a
    load) ask for them: it is rebuilt only when a CleanOps variable has changed.
    """
    return _settings_for(_own_environment())


def _own_environment() -> tuple[tuple[str, str], ...]:
    """CleanOps' variables as set now (any case, as pydantic-settings matches them)."""
    return tuple(sorted((name, value) for name, value in os.environ.items() if name.upper().startswith(PREFIX)))


@functools.lru_cache(maxsize=16)
def _settings_for(environment: tuple[tuple[str, str], ...]) -> Settings:
    return Settings()


def connection_variable(name: str) -> str:
    """CLEANOPS_CONN_<NAME> (upper case, `-` as `_`) for a connection name of a pipeline file."""
    return CONNECTION_PREFIX + name.upper().replace("-", "_")


def connection_variable_value(name: str) -> str | None:
    """The raw URL a pipeline's connection name stands for, or None when it is not set."""
    return os.environ.get(connection_variable(name)) or None


def own_variables() -> dict[str, str]:
    """Every CLEANOPS_* variable set now (name → value), e.g. to find the secrets they hold."""
    return {name: value for name, value in os.environ.items() if name.startswith(PREFIX)}


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
    return current().home_folder()


def paths() -> Paths:
    return Paths(home())


def pipelines_dir() -> Path:
    return current().pipelines_folder()


def external_database_url() -> str | None:
    """The user's own server, if they named one."""
    return current().database_url or None


def instance_database_url() -> str | None:
    """CLEANOPS_INSTANCE_DATABASE_URL: the Dagster instance's database on a user's own server."""
    return current().instance_database_url or None


def dbt_project_dir() -> Path:
    return current().dbt_project_folder()


def cleanup_roots() -> list[str]:
    """Folders an administrator allows cleanup roots in (CLEANOPS_CLEANUP_ROOTS, os.pathsep-separated).

    CleanOps' own folders (tmp, landing, logs, archives, compute logs, dbt logs) are always
    allowed; this adds more. The entries are returned as given: cleanup checks and resolves them.
    """
    return [entry for entry in current().cleanup_roots.split(os.pathsep) if entry.strip()]


def destination_schemas() -> tuple[str, ...]:
    """CLEANOPS_DESTINATION_SCHEMAS: comma-separated schemas, besides `marts`, that destinations may write."""
    return tuple(name.strip() for name in current().destination_schemas.split(",") if name.strip())


def source_roots() -> tuple[Path, ...]:
    """CLEANOPS_SOURCE_ROOTS: folders (os.pathsep-separated) file sources may read, besides the
    pipelines folder and the landing folder."""
    value = current().source_roots
    return tuple(Path(part).expanduser().resolve() for part in value.split(os.pathsep) if part.strip())


def hmac_key() -> str | None:
    """CLEANOPS_HMAC_KEY: the key of hmac_sha256 anonymisation (environment only, never written)."""
    return current().hmac_key or None


def metrics_interval_minutes() -> int:
    """CLEANOPS_METRICS_INTERVAL_MINUTES: how often the metrics schedule collects (default 5).

    1-59, or a whole number of hours up to 1440 (one cron expression can say either); any
    other value raises ValueError naming the variable.
    """
    value = (current().metrics_interval_minutes or "").strip() or "5"
    minutes = int(value) if value.isascii() and value.isdigit() else -1
    if not (1 <= minutes < 60 or (minutes % 60 == 0 and 60 <= minutes <= 1440)):
        raise ValueError(f"CLEANOPS_METRICS_INTERVAL_MINUTES={value!r}: expected 1-59 minutes "
                         "or a whole number of hours up to 1440")
    return minutes


def _raw(name: str) -> str:
    """The text of CLEANOPS_<FIELD> as the settings read it ("" when unset)."""
    return getattr(current(), name.removeprefix(PREFIX).lower()) or ""


def _env_list(name: str) -> list[str]:
    value = _raw(name)
    return [part.strip() for part in value.split(",") if part.strip()]


def notify_smtp_url() -> str | None:
    """CLEANOPS_NOTIFY_SMTP_URL: the SMTP server alert e-mails go through, e.g.
    `smtp://user:password@mail.example.com:587?from=cleanops@example.com` (`smtps://` for
    TLS from the start, `starttls` is used on `smtp://` when the server offers it). Unset:
    e-mail recipients are recorded as failed notifications ("no SMTP server configured")."""
    return _raw("CLEANOPS_NOTIFY_SMTP_URL").strip() or None


def notify_default_to() -> list[str]:
    """CLEANOPS_NOTIFY_DEFAULT_TO: comma-separated recipients (e-mail addresses or apprise
    URLs) told about every alert, besides the pipeline file's `notifications.on_failure`."""
    return _env_list("CLEANOPS_NOTIFY_DEFAULT_TO")


def notify_webhook_url() -> str | None:
    """CLEANOPS_NOTIFY_WEBHOOK_URL: an http(s) URL that receives every alert as a JSON POST."""
    return _raw("CLEANOPS_NOTIFY_WEBHOOK_URL").strip() or None


def notify_attempts() -> int:
    """CLEANOPS_NOTIFY_ATTEMPTS: tries per message and target (default 3, 1-10)."""
    value = _raw("CLEANOPS_NOTIFY_ATTEMPTS").strip() or "3"
    attempts = int(value) if value.isascii() and value.isdigit() else -1
    if not 1 <= attempts <= 10:
        raise ValueError(f"CLEANOPS_NOTIFY_ATTEMPTS={value!r}: expected 1-10")
    return attempts


def notify_backoff_seconds() -> float:
    """CLEANOPS_NOTIFY_BACKOFF_SECONDS: wait before the second try, doubled before each next
    one (default 2; 0-60)."""
    value = _raw("CLEANOPS_NOTIFY_BACKOFF_SECONDS").strip() or "2"
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
    return (_raw("CLEANOPS_UI_URL").strip() or "http://localhost:3000").rstrip("/")


def _env_float(name: str, default: float, low: float, high: float) -> float:
    value = _raw(name).strip() or str(default)
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
