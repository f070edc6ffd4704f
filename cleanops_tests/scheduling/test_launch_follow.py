"""Following a run: a run whose worker never starts is given up on, naming the run."""

import time

import dagster as dg
import pytest

from cleanops.scheduling.launch import RunNeverStarted, run_events


@dg.op
def noop():
    return None


@dg.job
def never_launched():
    noop()


def test_a_run_that_never_starts_is_given_up_on_after_the_start_timeout():
    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(never_launched)
        began = time.monotonic()
        with pytest.raises(RunNeverStarted, match=f"run {run.run_id} is still NOT_STARTED"):
            list(run_events(instance, run.run_id, poll_seconds=0.05, start_timeout_seconds=0.3))
        assert time.monotonic() - began < 10


def test_without_a_start_timeout_a_finished_run_is_followed_to_its_end():
    with dg.instance_for_test() as instance:
        result = never_launched.execute_in_process(instance=instance)
        events = list(run_events(instance, result.run_id, poll_seconds=0.05, start_timeout_seconds=0.3))
        assert events[-1].dagster_event.event_type == dg.DagsterEventType.RUN_SUCCESS
