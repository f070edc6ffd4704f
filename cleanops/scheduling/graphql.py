"""Acting on the CleanOps code location through Dagster's GraphQL API, as the UI does.

`dagster-graphql -w workspace.yaml` (dagster-graphql's public command) loads the project's
workspace in its own process and answers one GraphQL document against it: every change
(a run created with the location's origin, a schedule started) goes through the same
mutations as the UI's buttons. No webserver needs to be running.

`launch_home()` is a Dagster home for runs that start at once: the project's dagster.yaml
with Dagster's DefaultRunCoordinator instead of its run queue, on the same storage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import dagster as dg
import yaml

from cleanops import settings

LOCATION = "cleanops"
ANSWER_POLL_SECONDS = 0.05
REPOSITORY = "__repository__"  # the repository name of a code location built from dg.Definitions
# Dagster's coordinator that launches a submitted run at once (its default is the run queue),
# spelt as Dagster's dagster.yaml reference spells it.
IMMEDIATE_RUN_COORDINATOR = {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"}


class GraphQLError(dg.DagsterError):
    """The code location refused a request (or could not be loaded)."""


def executable() -> str:
    candidate = Path(sys.executable).with_name("dagster-graphql")
    return str(candidate) if candidate.exists() else "dagster-graphql"


def execute(document: str, variables: dict | None = None, dagster_home: Path | None = None) -> dict:
    """The `data` of the answer; GraphQL errors raise GraphQLError with their messages.

    Returns as soon as the answer is written: `dagster-graphql` then shuts its code server
    down, which waits for any run worker it started, and that must not delay the caller.
    Its output and its code server's go to this process's stdout and stderr, like those of
    a code server this process would have started itself.
    """
    env = dict(os.environ)
    if dagster_home is not None:
        env["DAGSTER_HOME"] = str(dagster_home)
    with tempfile.TemporaryDirectory(prefix="cleanops-graphql-") as folder:
        output = Path(folder) / "answer.json"
        command = [executable(), "-w", str(settings.PROJECT_ROOT / "workspace.yaml"), "-t", document,
                   "-v", json.dumps(variables or {}), "--output", str(output)]
        process = subprocess.Popen(command, env=env, cwd=settings.PROJECT_ROOT, stdin=subprocess.DEVNULL)
        answer = _wait_for_answer(process, output)
    if answer.get("errors"):
        raise GraphQLError("; ".join(error.get("message", str(error)) for error in answer["errors"]))
    return answer["data"]


def _wait_for_answer(process: subprocess.Popen, output: Path) -> dict:
    """The JSON `dagster-graphql` writes (one line), read once complete; the process is reaped later."""
    while True:
        exited = process.poll() is not None
        text = output.read_text(encoding="utf-8") if output.exists() else ""
        if text.endswith("\n"):
            threading.Thread(target=process.wait, name="dagster-graphql reaper", daemon=True).start()
            return json.loads(text)
        if exited:
            raise GraphQLError(f"dagster-graphql exited with code {process.returncode} without an answer "
                               "(its messages are on stderr)")
        time.sleep(ANSWER_POLL_SECONDS)


def launch_home() -> Path:
    """A Dagster home whose instance launches submitted runs at once (no queue, no daemon)."""
    project = yaml.safe_load((settings.PROJECT_ROOT / "dagster.yaml").read_text(encoding="utf-8"))
    project.pop("run_queue", None)
    project["run_coordinator"] = IMMEDIATE_RUN_COORDINATOR
    folder = settings.paths().home / "dagster" / "launch_home"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "dagster.yaml"
    text = yaml.safe_dump(project, sort_keys=False)
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return folder


LAUNCH_RESULT = """{
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }"""


def launch_run(job_name: str, tags: dict[str, str], run_config: dict | None = None,
               dagster_home: Path | None = None) -> str:
    """Submit a run of the job (its own tags + `tags`); returns its run id."""
    return launch_runs([(job_name, tags, run_config)], dagster_home)[0]


def launch_runs(requests: list[tuple[str, dict[str, str], dict | None]], dagster_home: Path | None = None) -> list[str]:
    """Submit runs given as (job, tags, run config) in one GraphQL document; their run ids, in order."""
    declared = ", ".join(f"$p{i}: ExecutionParams!" for i in range(len(requests)))
    fields = "\n".join(f"  r{i}: launchRun(executionParams: $p{i}) {LAUNCH_RESULT}" for i in range(len(requests)))
    variables = {f"p{i}": _execution_params(*request) for i, request in enumerate(requests)}
    data = execute(f"mutation LaunchRuns({declared}) {{\n{fields}\n}}", variables, dagster_home)
    return [_run_id(job_name, data[f"r{i}"]) for i, (job_name, _, _) in enumerate(requests)]


def _execution_params(job_name: str, tags: dict[str, str], run_config: dict | None) -> dict:
    return {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": job_name},
            "runConfigData": run_config or {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]}}


def _run_id(job_name: str, result: dict) -> str:
    if result["__typename"] == "LaunchRunSuccess":
        return result["run"]["runId"]
    messages = [e["message"] for e in result.get("errors", [])] or [result.get("message", result["__typename"])]
    raise GraphQLError(f"{job_name}: {'; '.join(messages)}")


INSTIGATORS = """
query Instigators($repo: RepositorySelector!) {
  repositoryOrError(repositorySelector: $repo) {
    __typename
    ... on Repository { schedules { id name } sensors { id name } }
    ... on Error { message }
  }
}
"""


def instigators() -> dict[str, dict[str, str]]:
    """kind (schedule | sensor) → name → GraphQL id, as the code location declares them."""
    repo = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
    result = execute(INSTIGATORS, {"repo": repo})["repositoryOrError"]
    if result["__typename"] != "Repository":
        raise GraphQLError(result.get("message", result["__typename"]))
    return {"schedule": {s["name"]: s["id"] for s in result["schedules"]},
            "sensor": {s["name"]: s["id"] for s in result["sensors"]}}


def set_running(changes: list[tuple[str, str, str]], running: bool) -> None:
    """Start or stop instigators given as (kind, name, id), in one GraphQL document."""
    if not changes:
        return
    fields = [_mutation(index, kind, name, instigator_id, running)
              for index, (kind, name, instigator_id) in enumerate(changes)]
    result = execute("mutation SetRunning {\n" + "\n".join(fields) + "\n}")
    failures = [f"{name}: {result[f'c{i}'].get('message', result[f'c{i}']['__typename'])}"
                for i, (_, name, _) in enumerate(changes) if "message" in result[f"c{i}"]]
    if failures:
        raise GraphQLError("; ".join(failures))


def _mutation(index: int, kind: str, name: str, instigator_id: str, running: bool) -> str:
    selection = "{ __typename ... on Error { message } }"
    where = f'repositoryLocationName: "{LOCATION}", repositoryName: "{REPOSITORY}"'
    if kind == "schedule":
        call = (f'startSchedule(scheduleSelector: {{{where}, scheduleName: {json.dumps(name)}}})' if running
                else f'stopRunningSchedule(id: {json.dumps(instigator_id)})')
    else:
        call = (f'startSensor(sensorSelector: {{{where}, sensorName: {json.dumps(name)}}})' if running
                else f'stopSensor(id: {json.dumps(instigator_id)})')
    return f"  c{index}: {call} {selection}"
