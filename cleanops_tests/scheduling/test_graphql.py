"""The GraphQL requests CleanOps sends to its code location, without starting one."""

from __future__ import annotations

import yaml

from cleanops import settings
from cleanops.scheduling import graphql


def test_the_launch_home_is_the_project_instance_launching_at_once(tmp_path, monkeypatch):
    """Dagster's default coordinator is the run queue, which needs the daemon: the launch
    home names the one that launches at once, and keeps everything else of dagster.yaml."""
    monkeypatch.setenv("CLEANOPS_HOME", str(tmp_path))
    project = yaml.safe_load((settings.PROJECT_ROOT / "dagster.yaml").read_text())
    launch = yaml.safe_load((graphql.launch_home() / "dagster.yaml").read_text())
    assert project["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert launch["run_coordinator"] == {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"}
    assert {k: v for k, v in launch.items() if k != "run_coordinator"} == \
        {k: v for k, v in project.items() if k not in ("run_coordinator", "run_queue")}
    assert graphql.launch_home().is_relative_to(tmp_path)


def test_pause_and_resume_name_each_instigator_in_one_document():
    start = graphql._mutation(0, "schedule", 'a"b__schedule', "id-1", True)
    stop = graphql._mutation(1, "sensor", "a__files", 'id-"2', False)
    assert start.startswith("  c0: startSchedule(") and 'scheduleName: "a\\"b__schedule"' in start
    assert stop.startswith("  c1: stopSensor(") and 'id: "id-\\"2"' in stop
    assert '"cleanops"' in start and "__repository__" in start
