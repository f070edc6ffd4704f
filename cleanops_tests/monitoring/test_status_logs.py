"""`cleanops logs`: a finished run's steps, following a run to its end, and the refusals."""

import threading
import time

import dagster as dg
from click.testing import CliRunner

from cleanops.cli.main import cli
from cleanops.scheduling.policy import PIPELINE_TAG
from cleanops_tests.conftest import unique_id
from cleanops_tests.monitoring.helpers import csv_pipeline, run, run_pipeline


def logs(*args: str):
    return CliRunner().invoke(cli, ["logs", *args])


def test_the_latest_run_shows_its_steps_and_execution_log(dagster_instance, pipelines_dir, make_pipeline):
    pipeline = csv_pipeline(pipelines_dir, make_pipeline, unique_id("logs"))
    result = run_pipeline(pipeline, dagster_instance)
    assert result.success
    shown = logs(pipeline.spec.pipeline_id)
    assert shown.exit_code == 0, shown.output
    table = f"staging.{pipeline.spec.slug}__users"
    for words in (result.run_id, "STEP_START", "STEP_SUCCESS", "RUN_SUCCESS", f"done    loading {table}",
                  f"run {result.run_id}: success", "steps", "rejected rows by error code"):
        assert words in shown.output, words
    assert shown.output.index("RUN_SUCCESS") < shown.output.index("records extracted 21, processed 20, failed 1")


def test_a_chosen_run_and_a_failure_in_words(dagster_instance, pipelines_dir, make_pipeline):
    pipeline_id = csv_pipeline(pipelines_dir, make_pipeline, unique_id("logs-run")).spec.pipeline_id
    failed = run(dagster_instance, fail=True, tags={PIPELINE_TAG: pipeline_id})
    run(dagster_instance, tags={PIPELINE_TAG: pipeline_id})
    shown = logs(pipeline_id, "--run", failed.run_id)
    assert shown.exit_code == 0, shown.output
    assert "failed  work: " in shown.output and "this run fails on purpose" in shown.output
    assert f"run {failed.run_id}: failure" in shown.output
    assert "no execution log recorded" in shown.output


def test_follow_prints_events_until_the_run_ends(dagster_instance, pipelines_dir, make_pipeline):
    pipeline_id = csv_pipeline(pipelines_dir, make_pipeline, unique_id("logs-follow")).spec.pipeline_id
    running = dagster_instance.add_run(dg.DagsterRun(job_name="monitoring_test_job", run_id=unique_id("r"),
                                                     status=dg.DagsterRunStatus.STARTED,
                                                     tags={PIPELINE_TAG: pipeline_id}))

    def end_it():
        time.sleep(1.5)
        dagster_instance.report_run_failed(running, "ended by the test")

    ender = threading.Thread(target=end_it)
    ender.start()
    started = time.monotonic()
    shown = logs(pipeline_id, "--follow")
    ender.join()
    assert shown.exit_code == 0, shown.output
    assert time.monotonic() - started >= 1.5  # it waited for the end
    assert "RUN_FAILURE" in shown.output and "ended by the test" in shown.output
    assert f"run {running.run_id}: failure" in shown.output


def test_a_pipeline_without_runs(pipelines_dir, make_pipeline):
    pipeline_id = csv_pipeline(pipelines_dir, make_pipeline, unique_id("logs-none")).spec.pipeline_id
    shown = logs(pipeline_id)
    assert shown.exit_code == 0, shown.output
    assert f"pipeline {pipeline_id} has no runs yet" in shown.output


def test_an_unknown_pipeline_names_the_known_ones(pipelines_dir, make_pipeline):
    pipeline_id = csv_pipeline(pipelines_dir, make_pipeline, unique_id("logs-known")).spec.pipeline_id
    shown = logs("no-such-pipeline")
    assert shown.exit_code == 1
    assert "no-such-pipeline" in shown.output and pipeline_id in shown.output


def test_a_run_of_another_pipeline_or_none(dagster_instance, pipelines_dir, make_pipeline):
    pipeline_id = csv_pipeline(pipelines_dir, make_pipeline, unique_id("logs-other")).spec.pipeline_id
    other = run(dagster_instance)
    shown = logs(pipeline_id, "--run", other.run_id)
    assert shown.exit_code == 1 and "monitoring-test" in shown.output
    missing = logs(pipeline_id, "--run", "no-such-run")
    assert missing.exit_code == 1 and "no run 'no-such-run'" in missing.output


def test_ctrl_c_stops_following_not_the_run(dagster_instance, pipelines_dir, make_pipeline):
    """As a user runs it: `cleanops logs --follow` in its own process, interrupted."""
    import os
    import signal
    import subprocess

    from cleanops import settings
    from cleanops_tests.cli.helpers import CLEANOPS

    pipeline_id = csv_pipeline(pipelines_dir, make_pipeline, unique_id("logs-ctrl-c")).spec.pipeline_id
    running = dagster_instance.add_run(dg.DagsterRun(job_name="monitoring_test_job", run_id=unique_id("r"),
                                                     status=dg.DagsterRunStatus.STARTED,
                                                     tags={PIPELINE_TAG: pipeline_id}))
    follower = subprocess.Popen([str(CLEANOPS), "logs", pipeline_id, "--follow"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=settings.PROJECT_ROOT, env=dict(os.environ))
    try:
        header = follower.stdout.readline()  # printed once the run is found: it is following now
        assert running.run_id in header, header
        follower.send_signal(signal.SIGINT)
        _, stderr = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
        dagster_instance.delete_run(running.run_id)
    assert follower.returncode == 130, stderr
    assert f"stopped following; run {running.run_id} goes on (started)" in stderr
