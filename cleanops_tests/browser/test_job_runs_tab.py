"""In a real browser: a run started with `cleanops pipelines run` is on its job's Runs tab.

The Dagster webserver runs against the test session's instance (as `make dev` does against
the project's), headless Chromium (Debian's `chromium`, installed by `make test`) opens the
job's page. Only runs created from the code location carry the origin that page filters on.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cleanops import settings
from cleanops.pipelines.schema import to_identifier
from cleanops_tests.cli.helpers import cleanops
from cleanops_tests.conftest import stop_process_group, unique_id

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, log_path: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the webserver exited:\n{log_path.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the webserver did not answer within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture
def csv_pipeline(pipelines_dir) -> str:
    pipeline_id = unique_id("browser")
    (pipelines_dir / "events.csv").write_text("event_id,occurred_at\n1,2024-01-01T00:00:00\n2,not a date\n")
    spec = {"pipeline_id": pipeline_id, "data_sources": [{"id": "events", "type": "csv", "path": "events.csv"}]}
    (pipelines_dir / f"{pipeline_id}.json").write_text(json.dumps(spec))
    return pipeline_id


@pytest.fixture
def webserver(csv_pipeline, tmp_path):
    """`dagster-webserver` on a free 127.0.0.1 port, loading the workspace with the test's pipelines."""
    port = free_port()
    log_path = tmp_path / "webserver.log"
    binary = Path(sys.executable).parent / "dagster-webserver"
    with open(log_path, "w") as log:
        process = subprocess.Popen([str(binary), "-h", "127.0.0.1", "-p", str(port),
                                    "-w", str(settings.PROJECT_ROOT / "workspace.yaml")],
                                   cwd=settings.PROJECT_ROOT, env=dict(os.environ), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process, log_path)
        yield url
    finally:
        stop_process_group(process, timeout=20)


def dismiss_community_popup(page) -> None:
    """The UI asks first-time visitors to join the Dagster community; it covers the page."""
    dialog = page.get_by_text("Join the Dagster community")
    try:
        dialog.wait_for(state="visible", timeout=3_000)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError: no pop-up this time
        return
    page.get_by_role("button", name="Skip").click()  # Escape no longer closes it
    dialog.wait_for(state="hidden", timeout=5_000)


def test_cli_run_appears_on_its_jobs_runs_tab(csv_pipeline, webserver, tmp_path):
    if not shutil.which("chromium") and not Path(CHROMIUM).exists():
        pytest.fail("the browser test needs Debian's chromium at /usr/bin/chromium: "
                    "apt-get update && apt-get install -y chromium (make test does this as root)")
    from playwright.sync_api import expect, sync_playwright

    result = cleanops("pipelines", "run", csv_pipeline, "--json")
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout)["execution_id"]
    job = to_identifier(csv_pipeline)  # the job is named after the pipeline
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{webserver}/locations/cleanops/jobs/{job}/runs")
            dismiss_community_popup(page)
            try:
                expect(page.locator(f'a[href*="/runs/{run_id}"]').first).to_be_visible(timeout=30_000)
            except AssertionError:
                page.screenshot(path=str(tmp_path / "job-runs-tab.png"))
                raise
        finally:
            browser.close()
