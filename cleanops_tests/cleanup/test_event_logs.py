"""Event-log chatter: DEBUG messages and engine events of finished runs go sooner; the runs stay."""

from __future__ import annotations

import dagster as dg

from cleanops.cleanup import policies, restore, service
from cleanops_tests.cleanup.helpers import options
from cleanops_tests.conftest import unique_id


def _job(name: str):
    @dg.op(name=f"chatty_{name}")
    def chatty(context):
        context.log.debug("debug noise")
        context.log.info("keep me")

    @dg.job(name=name)
    def job():
        chatty()

    return job


def _messages(instance, run_id: str) -> list[tuple[str | None, str]]:
    return sorted((e.dagster_event.event_type_value if e.dagster_event else "", e.user_message)
                  for e in instance.all_logs(run_id))


def test_debug_and_engine_events_removed_run_kept_and_restorable(warehouse, dagster_instance):
    name = unique_id("chatty").replace("-", "_")
    run_id = _job(name).execute_in_process(instance=dagster_instance).run_id
    other_id = _job(name + "_other").execute_in_process(instance=dagster_instance).run_id
    before, other_before = _messages(dagster_instance, run_id), _messages(dagster_instance, other_id)
    assert ("debug noise" in [m for _, m in before]) and any(t == "ENGINE_EVENT" for t, _ in before)
    data_type = unique_id("chatter").replace("-", "_")
    policies.save(warehouse, policies.Policy(data_type, 0, "event_logs", patterns=[name]), "test")

    result = service.run_cleanup(warehouse, options(data_type, batch_size=3))
    assert result.status == "completed", result.to_dict()
    after = _messages(dagster_instance, run_id)
    assert "debug noise" not in [m for _, m in after] and not any(t == "ENGINE_EVENT" for t, _ in after)
    assert "keep me" in [m for _, m in after]
    assert dagster_instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
    assert {t for t, _ in after} >= {t for t, _ in before if t.startswith(("RUN_", "PIPELINE_", "STEP_S"))} - {""}, (before, after)
    assert max(result.totals.batches) <= 3
    assert _messages(dagster_instance, other_id) == other_before  # another job's events untouched

    restore.restore(warehouse, result.cleanup_id, "test")
    assert _messages(dagster_instance, run_id) == before
