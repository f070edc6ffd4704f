"""`cleanops runs list`: filters done by the run storage, JSON, and its option parsing."""

import contextlib
import json
import time
from unittest import mock

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from cleanops.cli.main import cli
from cleanops.monitoring.durations import DurationError, parse_duration
from cleanops.monitoring.runs import STATUSES
from cleanops.scheduling.policy import PIPELINE_TAG
from cleanops_tests.conftest import unique_id
from cleanops_tests.monitoring.helpers import csv_pipeline, run


def runs_list(*args: str) -> list[dict]:
    result = CliRunner().invoke(cli, ["runs", "list", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def made_runs(dagster_instance, pipelines_dir, make_pipeline):
    """Two runs of a pipeline (success, then failure) and one of another."""
    pipeline_id = csv_pipeline(pipelines_dir, make_pipeline, unique_id("runs")).spec.pipeline_id
    ok = run(dagster_instance, tags={PIPELINE_TAG: pipeline_id, "cleanops/trigger": "cli"})
    failed = run(dagster_instance, fail=True, tags={PIPELINE_TAG: pipeline_id})
    other = run(dagster_instance)
    return pipeline_id, ok.run_id, failed.run_id, other.run_id


def test_pipeline_filter_newest_first(made_runs):
    pipeline_id, ok, failed, other = made_runs
    rows = runs_list("--pipeline", pipeline_id)
    assert [row["run_id"] for row in rows] == [failed, ok]
    assert [row["status"] for row in rows] == ["failure", "success"]
    assert {row["pipeline_id"] for row in rows} == {pipeline_id}
    assert [row["trigger"] for row in rows] == ["manual", "cli"]
    assert all(row["duration_seconds"] >= 0 and row["started_at"].endswith("Z") for row in rows)
    assert [row["run_id"] for row in runs_list("--limit", "1")] == [other]


def test_status_filter_any_case(made_runs):
    pipeline_id, ok, failed, _ = made_runs
    assert [row["run_id"] for row in runs_list("--pipeline", pipeline_id, "--status", "FAILURE")] == [failed]
    both = runs_list("--pipeline", pipeline_id, "--status", "success", "--status", "Failure")
    assert [row["run_id"] for row in both] == [failed, ok]
    assert runs_list("--pipeline", pipeline_id, "--status", "queued") == []


def test_since_filter(made_runs):
    pipeline_id, *_ = made_runs
    time.sleep(2)
    assert runs_list("--pipeline", pipeline_id, "--since", "1s") == []
    assert len(runs_list("--pipeline", pipeline_id, "--since", "1h")) == 2


def test_plain_table(made_runs):
    pipeline_id, ok, failed, _ = made_runs
    result = CliRunner().invoke(cli, ["runs", "list", "--pipeline", pipeline_id])
    assert result.exit_code == 0, result.output
    assert ok in result.output and failed in result.output and "failure" in result.output


def test_unknown_pipeline_names_the_known_ones(pipelines_dir, make_pipeline):
    pipeline_id = csv_pipeline(pipelines_dir, make_pipeline, unique_id("known")).spec.pipeline_id
    result = CliRunner().invoke(cli, ["runs", "list", "--pipeline", "no-such-pipeline"])
    assert result.exit_code == 1
    assert "no-such-pipeline" in result.output and pipeline_id in result.output


def test_a_bad_status_is_a_usage_error_naming_the_option_and_values():
    result = CliRunner().invoke(cli, ["runs", "list", "--status", "done"])
    assert result.exit_code == 2
    assert "--status" in result.output and "success" in result.output and "canceled" in result.output


def _no_instance():
    return contextlib.nullcontext()


status_like = st.one_of(st.text(max_size=12), st.sampled_from(STATUSES).map(
    lambda s: "".join(c.upper() if i % 2 else c for i, c in enumerate(s))))
since_like = st.one_of(st.none(), st.text(max_size=10), st.from_regex(r"-?[0-9.]{0,8}[smhdwx]?", fullmatch=True))


@given(status_like, since_like)
def test_status_and_since_are_valid_or_a_usage_error_naming_the_option(status, since):
    args = ["runs", "list", "--json", f"--status={status}"] + ([f"--since={since}"] if since is not None else [])
    with mock.patch("cleanops.scheduling.control.get_instance", _no_instance), \
         mock.patch("cleanops.monitoring.runs.list_runs", return_value=[]) as listed:
        result = CliRunner().invoke(cli, args)
    status_ok = status.lower() in STATUSES
    try:
        since_ok = since is None or parse_duration(since).total_seconds() >= 1
    except DurationError:
        since_ok = False
    if status_ok and since_ok:
        assert result.exit_code == 0, (result.output, result.exception)
        assert json.loads(result.output) == []
        assert listed.call_args.args[2] == [status.lower()]
    else:
        assert result.exit_code == 2, (result.output, result.exception)
        assert ("--status" in result.output) if not status_ok else ("--since" in result.output)
