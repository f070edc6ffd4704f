"""Shared fixtures: a real PostgreSQL for the whole session, and pipeline folders.

By default the session starts the embedded server in a temporary CLEANOPS_HOME. With
CLEANOPS_TEST_TARGET=server it instead creates a fresh database on the server named by
CLEANOPS_TEST_POSTGRES_URL (CI: PostgreSQL 15 on 127.0.0.1:5432), points
CLEANOPS_DATABASE_URL at it exactly as a user would, and drops it at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, settings

from cleanops.db import connection, embedded, migrate
from cleanops.warehouse import warehouse_engine

# Property-based tests: a bounded profile for `make test`, a long one for `make fuzz`.
settings.register_profile("ci", max_examples=150, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=5_000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SERVER_TARGET = os.environ.get("CLEANOPS_TEST_TARGET") == "server"


def pytest_collection_modifyitems(config, items):
    if SERVER_TARGET:
        selected = [item for item in items if item.get_closest_marker("server_matrix")]
        deselected = [item for item in items if not item.get_closest_marker("server_matrix")]
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def _drop_databases(server_url: str, names: list[str]) -> None:
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def stop_process_group(process: subprocess.Popen, timeout: float) -> None:
    """End a server a test started in its own session (webserver, daemon) and its children."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def _stop_code_servers(home: Path, grace_seconds: float = 15.0) -> None:
    """Code servers the session's runs started (`dagster api grpc`, orphaned once the CLI that
    opened them exited) finish their last run's bookkeeping in the database: give them time
    to do it and exit before the server stops, and end those that do not."""
    import psutil

    def ours(process: psutil.Process) -> bool:
        try:
            command = process.cmdline()
            return ("api" in command and "grpc" in command
                    and process.environ().get("CLEANOPS_HOME") == str(home))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return False

    servers = [process for process in psutil.process_iter() if ours(process)]
    _, alive = psutil.wait_procs(servers, timeout=grace_seconds)
    for process in alive:
        process.kill()
    psutil.wait_procs(alive, timeout=5)


@pytest.fixture(scope="session", autouse=True)
def cleanops_database(tmp_path_factory):
    """The session's database server, set up exactly as the product would use it."""
    home = tmp_path_factory.mktemp("home")
    saved = dict(os.environ)
    os.environ["CLEANOPS_HOME"] = str(home)
    os.environ["CLEANOPS_PIPELINES_DIR"] = str(tmp_path_factory.mktemp("no_pipelines"))
    created: list[str] = []
    if SERVER_TARGET:
        server = os.environ["CLEANOPS_TEST_POSTGRES_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
        name = f"cleanops_test_{uuid.uuid4().hex[:10]}"
        os.environ["CLEANOPS_DATABASE_URL"] = sa.make_url(server).set(database=name).render_as_string(False)
        created = [name, f"{name}_dagster", f"{name}_sample_source"]
        os.environ["CLEANOPS_SAMPLE_SOURCE_DATABASE"] = f"{name}_sample_source"
    else:
        os.environ.pop("CLEANOPS_DATABASE_URL", None)
    migrate.forget_applied_cache()
    target = None
    try:  # a set-up that fails half-way (a broken migration) must not leave a server behind
        target = connection.apply_environment()
        migrate.migrate(warehouse_engine())
        yield target
    finally:
        _stop_code_servers(home)
        warehouse_engine().dispose()
        if SERVER_TARGET and target is not None:
            _drop_databases(connection.render(target.server_url.set(database="postgres")), created)
        elif not SERVER_TARGET:
            layout = embedded.plan_layout(home)
            embedded.stop(layout)
            if layout.data_dir.is_relative_to(embedded.FALLBACK_ROOT):  # as root under a private /tmp
                shutil.rmtree(layout.data_dir.parent, ignore_errors=True)
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def warehouse(cleanops_database) -> sa.Engine:
    return warehouse_engine()


@pytest.fixture(scope="session")
def dagster_instance(cleanops_database):
    """The persistent Dagster instance on PostgreSQL (runs show up as in the UI)."""
    import dagster as dg

    instance = dg.DagsterInstance.get()
    yield instance
    instance.dispose()


@pytest.fixture
def pipelines_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    monkeypatch.setenv("CLEANOPS_PIPELINES_DIR", str(folder))
    return folder


def unique_id(prefix: str) -> str:
    """A pipeline id no other test uses, so tables never collide between tests or runs."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_pipeline(folder: Path, spec: dict, fmt: str = "json") -> Path:
    path = folder / f"{spec['pipeline_id']}.{fmt}"
    path.write_text(json.dumps(spec, indent=2) if fmt == "json" else yaml.safe_dump(spec))
    return path


@pytest.fixture
def make_pipeline(pipelines_dir):
    """Write a pipeline file into the test's pipelines folder and return its LoadedPipeline."""
    from cleanops.pipelines.loader import load_file

    def _make(spec: dict, fmt: str = "json"):
        path = write_pipeline(pipelines_dir, spec, fmt)
        loaded, errors = load_file(path)
        assert not errors, errors
        return loaded

    return _make
