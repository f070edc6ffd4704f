"""Alert rules and their lifecycle on real runs, with real SMTP and webhook receivers.

The persistent (PostgreSQL) instance, as in production: SQLite's run-sharded event storage
cannot read events across runs by storage id. Each test starts its cursor at the newest event.
"""

import json
from contextlib import nullcontext

import dagster as dg
import pytest

from cleanops import secrets
from cleanops.monitoring.alerts import store
from cleanops.monitoring.alerts.evaluate import Routing, evaluate
from cleanops_tests.conftest import unique_id
from cleanops_tests.monitoring import helpers
from cleanops_tests.monitoring.servers import free_port, smtp_server, webhook_server


def run(instance, pipeline: str, fail: bool) -> dg.ExecuteInProcessResult:
    return helpers.test_job.execute_in_process(instance=instance, raise_on_error=False,
                                               tags={"cleanops/pipeline": pipeline},
                                               run_config={"ops": {"work": {"config": {"fail": fail}}}})


@pytest.fixture
def notify_env(monkeypatch):
    monkeypatch.setenv("CLEANOPS_NOTIFY_BACKOFF_SECONDS", "0")
    monkeypatch.setenv("CLEANOPS_NOTIFY_ATTEMPTS", "2")
    monkeypatch.delenv("CLEANOPS_NOTIFY_DEFAULT_TO", raising=False)
    monkeypatch.delenv("CLEANOPS_NOTIFY_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("CLEANOPS_NOTIFY_SMTP_URL", raising=False)
    return monkeypatch


def open_alerts(warehouse, pipeline):
    return store.listing(warehouse, ("active", "acknowledged", "resolved"), pipeline_id=pipeline)


def test_failure_raises_one_alert_one_email_one_webhook_then_success_resolves(warehouse, dagster_instance, notify_env):
    pipeline = unique_id("alerting")
    with smtp_server() as (inbox, smtp_port), webhook_server() as (hooks, hook_port), \
            nullcontext(dagster_instance) as instance:
        notify_env.setenv("CLEANOPS_NOTIFY_SMTP_URL", f"smtp://127.0.0.1:{smtp_port}?from=cleanops@example.com")
        notify_env.setenv("CLEANOPS_NOTIFY_WEBHOOK_URL", f"http://127.0.0.1:{hook_port}/hook")
        routing = {pipeline: Routing(on_failure=("ops@example.com",), on_success=("done@example.com",))}
        lookup = lambda pid: routing.get(pid, Routing())
        cursor = evaluate(instance, warehouse, None, lookup).cursor

        failed = run(instance, pipeline, fail=True)
        first = evaluate(instance, warehouse, cursor, lookup)
        [alert] = open_alerts(warehouse, pipeline)
        assert first.raised == [alert["alert_id"]]
        assert (alert["rule"], alert["severity"], alert["status"], alert["occurrences"]) == \
            ("run_failure", "error", "active", 1)
        assert alert["link"] == f"/runs/{failed.run_id}"
        assert len(inbox.messages) == 1 and inbox.messages[0].rcpt_tos == ["ops@example.com"]
        mail = inbox.texts()[0]
        assert pipeline in mail and f"/runs/{failed.run_id}" in mail and "Next:" in mail
        assert len(hooks) == 1 and pipeline in hooks[0]["title"] and "Since:" in hooks[0]["message"]

        run(instance, pipeline, fail=True)
        second = evaluate(instance, warehouse, first.cursor, lookup)
        assert second.raised == [] and second.bumped == [alert["alert_id"]]
        [alert] = open_alerts(warehouse, pipeline)
        assert alert["occurrences"] == 2 and alert["status"] == "active"
        assert len(inbox.messages) == 1 and len(hooks) == 1

        again = evaluate(instance, warehouse, second.cursor, lookup)
        assert again.events == 0 and len(inbox.messages) == 1

        run(instance, pipeline, fail=False)
        third = evaluate(instance, warehouse, again.cursor, lookup)
        assert third.resolved == [alert["alert_id"]]
        [alert] = open_alerts(warehouse, pipeline)
        assert alert["status"] == "resolved" and alert["resolved_by"] == "success"
        assert [m.rcpt_tos for m in inbox.messages] == [["ops@example.com"], ["done@example.com"]]
        assert len(hooks) == 1
    rows = store.notifications(warehouse, alert["alert_id"])
    assert [(r["event"], r["channel"], r["status"], r["attempts"]) for r in rows] == [
        ("raised", "email", "sent", 1), ("raised", "webhook", "sent", 1), ("resolved", "email", "sent", 1)]


def test_a_failure_after_resolution_opens_a_new_alert(warehouse, dagster_instance, notify_env):
    pipeline = unique_id("reopen")
    with nullcontext(dagster_instance) as instance:
        cursor = evaluate(instance, warehouse, None).cursor
        run(instance, pipeline, fail=True)
        run(instance, pipeline, fail=False)
        run(instance, pipeline, fail=True)
        outcome = evaluate(instance, warehouse, cursor, lambda pid: Routing())
    alerts = open_alerts(warehouse, pipeline)
    assert len(outcome.raised) == 2 and len(outcome.resolved) == 1
    assert sorted(a["status"] for a in alerts) == ["active", "resolved"]


def test_ack_keeps_the_alert_open_and_silent(warehouse, dagster_instance, notify_env):
    pipeline = unique_id("acked")
    with smtp_server() as (inbox, smtp_port), nullcontext(dagster_instance) as instance:
        notify_env.setenv("CLEANOPS_NOTIFY_SMTP_URL", f"smtp://127.0.0.1:{smtp_port}")
        lookup = lambda pid: Routing(on_failure=("ops@example.com",))
        cursor = evaluate(instance, warehouse, None, lookup).cursor
        run(instance, pipeline, fail=True)
        cursor = evaluate(instance, warehouse, cursor, lookup).cursor
        [alert] = open_alerts(warehouse, pipeline)
        assert store.set_status(warehouse, alert["alert_id"], "acknowledged")["status"] == "acknowledged"
        run(instance, pipeline, fail=True)
        outcome = evaluate(instance, warehouse, cursor, lookup)
        [alert] = open_alerts(warehouse, pipeline)
        assert outcome.bumped == [alert["alert_id"]] and alert["status"] == "acknowledged"
        assert alert["occurrences"] == 2 and len(inbox.messages) == 1
        resolved = store.set_status(warehouse, alert["alert_id"], "resolved")
        assert resolved["status"] == "resolved" and resolved["resolved_by"] == "manual"


def test_a_refusing_smtp_server_is_recorded_as_failed_and_does_not_raise(warehouse, dagster_instance, notify_env):
    pipeline = unique_id("nosmtp")
    notify_env.setenv("CLEANOPS_NOTIFY_SMTP_URL", f"smtp://alerts:Sup3rSecretPw@127.0.0.1:{free_port()}")
    notify_env.setenv("CLEANOPS_NOTIFY_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/hooks/TokenAbcdef123456")
    with nullcontext(dagster_instance) as instance:
        cursor = evaluate(instance, warehouse, None).cursor
        result = run(instance, pipeline, fail=True)
        outcome = evaluate(instance, warehouse, cursor, lambda pid: Routing(on_failure=("ops@example.com",)))
    assert not result.success  # the run's own outcome is its own
    [alert] = open_alerts(warehouse, pipeline)
    rows = store.notifications(warehouse, alert["alert_id"])
    assert [(r["channel"], r["status"], r["attempts"]) for r in rows] == [("email", "failed", 2),
                                                                          ("webhook", "failed", 2)]
    assert all(r["error"] for r in rows)
    stored = json.dumps([{k: str(v) for k, v in r.items()} for r in rows]) + outcome.summary()
    assert "Sup3rSecretPw" not in stored and "TokenAbcdef123456" not in stored
    assert "Sup3rSecretPw" not in secrets.redact("x Sup3rSecretPw y")


def test_missing_smtp_server_is_a_failed_notification(warehouse, dagster_instance, notify_env):
    pipeline = unique_id("unset")
    with nullcontext(dagster_instance) as instance:
        cursor = evaluate(instance, warehouse, None).cursor
        run(instance, pipeline, fail=True)
        evaluate(instance, warehouse, cursor, lambda pid: Routing(on_failure=("ops@example.com",)))
    [alert] = open_alerts(warehouse, pipeline)
    [row] = store.notifications(warehouse, alert["alert_id"])
    assert row["status"] == "failed" and "CLEANOPS_NOTIFY_SMTP_URL" in row["error"] and row["attempts"] == 0


def test_disabled_rule_raises_nothing(warehouse, dagster_instance, notify_env):
    pipeline = unique_id("quiet")
    notify_env.setenv("CLEANOPS_ALERT_DISABLED_RULES", "run_failure")
    with nullcontext(dagster_instance) as instance:
        cursor = evaluate(instance, warehouse, None).cursor
        run(instance, pipeline, fail=True)
        outcome = evaluate(instance, warehouse, cursor, lambda pid: Routing())
    assert outcome.events == 1 and outcome.raised == [] and open_alerts(warehouse, pipeline) == []


def test_paging_keeps_event_order_across_types(warehouse, dagster_instance, notify_env, monkeypatch):
    from cleanops.monitoring.alerts import evaluate as module

    monkeypatch.setattr(module, "PAGE", 1)
    pipeline = unique_id("paged")
    with nullcontext(dagster_instance) as instance:
        cursor = evaluate(instance, warehouse, None).cursor
        for fail in (True, False, True, True, False):
            run(instance, pipeline, fail=fail)
        outcome = evaluate(instance, warehouse, cursor, lambda pid: Routing())
    alerts = open_alerts(warehouse, pipeline)
    assert outcome.events == 5
    assert sorted((a["status"], a["occurrences"]) for a in alerts) == [("resolved", 1), ("resolved", 2)]


def test_the_sensor_evaluates_with_its_cursor(warehouse, dagster_instance, notify_env):
    from cleanops.monitoring.definitions import alerts_sensor

    pipeline = unique_id("sensed")
    with nullcontext(dagster_instance) as instance:
        context = dg.build_sensor_context(instance=instance)
        first = alerts_sensor(context)
        assert isinstance(first, dg.SkipReason) and context.cursor
        run(instance, pipeline, fail=True)
        context = dg.build_sensor_context(instance=instance, cursor=context.cursor)
        second = alerts_sensor(context)
    assert "1 alerts raised" in second.skip_message
    assert [a["rule"] for a in open_alerts(warehouse, pipeline)] == ["run_failure"]


def test_failed_checks_raise_blocking_and_warning_alerts_and_passing_checks_resolve(warehouse, dagster_instance,
                                                                                     notify_env):
    pipeline = unique_id("checked")
    with webhook_server() as (hooks, hook_port):
        notify_env.setenv("CLEANOPS_NOTIFY_WEBHOOK_URL", f"http://127.0.0.1:{hook_port}/hook")
        cursor = evaluate(dagster_instance, warehouse, None).cursor
        failed = helpers.materialize_checked(dagster_instance, pipeline, passed=False)
        first = evaluate(dagster_instance, warehouse, cursor, lambda pid: Routing())
        alerts = {a["rule"]: a for a in open_alerts(warehouse, pipeline)}
        assert set(alerts) >= {"check_failed_blocking", "check_failed_warning"}
        blocking, warning = alerts["check_failed_blocking"], alerts["check_failed_warning"]
        assert (blocking["severity"], blocking["check_name"]) == ("error", "rows_valid")
        assert (warning["severity"], warning["check_name"]) == ("warning", "rows_plausible")
        assert blocking["asset_key"] == "monitoring_test/checked"
        assert blocking["link"] == "/assets/monitoring_test/checked"
        assert failed.run_id in warning["message"]
        assert len(hooks) == len(first.raised)

        helpers.materialize_checked(dagster_instance, pipeline, passed=True)
        second = evaluate(dagster_instance, warehouse, first.cursor, lambda pid: Routing())
    statuses = {a["rule"]: a["status"] for a in open_alerts(warehouse, pipeline)}
    assert statuses["check_failed_blocking"] == statuses["check_failed_warning"] == "resolved"
    assert {blocking["alert_id"], warning["alert_id"]} <= set(second.resolved)


def test_warning_checks_can_be_switched_off(warehouse, dagster_instance, notify_env):
    pipeline = unique_id("nowarn")
    notify_env.setenv("CLEANOPS_ALERT_DISABLED_RULES", "check_failed_warning, run_failure")
    cursor = evaluate(dagster_instance, warehouse, None).cursor
    helpers.materialize_checked(dagster_instance, pipeline, passed=False)
    evaluate(dagster_instance, warehouse, cursor, lambda pid: Routing())
    assert [a["rule"] for a in open_alerts(warehouse, pipeline)] == ["check_failed_blocking"]


def test_a_slow_run_raises_its_alert_and_a_normal_one_resolves_it(warehouse, dagster_instance, notify_env):
    notify_env.setenv("CLEANOPS_ALERT_SLOW_RUN_MIN_SECONDS", "0")
    notify_env.setenv("CLEANOPS_ALERT_SLOW_RUN_FACTOR", "3")
    pipeline = unique_id("slow")

    def timed(seconds):
        return helpers.test_job.execute_in_process(
            instance=dagster_instance, tags={"cleanops/pipeline": pipeline},
            run_config={"ops": {"work": {"config": {"sleep_seconds": seconds}}}})

    for _ in range(5):
        timed(0)
    cursor = evaluate(dagster_instance, warehouse, None).cursor
    slow = timed(4.0)
    first = evaluate(dagster_instance, warehouse, cursor, lambda pid: Routing())
    [alert] = [a for a in open_alerts(warehouse, pipeline) if a["rule"] == "slow_run"]
    assert first.raised == [alert["alert_id"]] and alert["severity"] == "warning"
    assert alert["link"] == f"/runs/{slow.run_id}" and "median" in alert["message"]
    timed(0)
    second = evaluate(dagster_instance, warehouse, first.cursor, lambda pid: Routing())
    assert second.resolved == [alert["alert_id"]]


def test_too_few_runs_are_never_slow(warehouse, dagster_instance, notify_env):
    notify_env.setenv("CLEANOPS_ALERT_SLOW_RUN_MIN_SECONDS", "0")
    pipeline = unique_id("young")
    helpers.test_job.execute_in_process(instance=dagster_instance, tags={"cleanops/pipeline": pipeline})
    cursor = evaluate(dagster_instance, warehouse, None).cursor
    helpers.test_job.execute_in_process(instance=dagster_instance, tags={"cleanops/pipeline": pipeline},
                                        run_config={"ops": {"work": {"config": {"sleep_seconds": 1.0}}}})
    assert evaluate(dagster_instance, warehouse, cursor, lambda pid: Routing()).raised == []


def test_a_load_rejecting_too_many_rows_raises_and_a_clean_load_resolves(warehouse, dagster_instance, notify_env):
    notify_env.setenv("CLEANOPS_ALERT_REJECTED_SHARE", "0.1")
    pipeline = unique_id("rejects")
    cursor = evaluate(dagster_instance, warehouse, None).cursor
    helpers.materialize_loaded(dagster_instance, pipeline, read=100, rejected=10)  # at the threshold: fine
    helpers.materialize_loaded(dagster_instance, pipeline, read=100, rejected=25)
    first = evaluate(dagster_instance, warehouse, cursor, lambda pid: Routing())
    [alert] = open_alerts(warehouse, pipeline)
    assert first.raised == [alert["alert_id"]]
    assert (alert["rule"], alert["asset_key"]) == ("rows_rejected", "staging/monitoring_test__rows")
    assert "25 of 100 rows (25.0 %)" in alert["message"]
    helpers.materialize_loaded(dagster_instance, pipeline, read=100, rejected=0)
    second = evaluate(dagster_instance, warehouse, first.cursor, lambda pid: Routing())
    assert second.resolved == [alert["alert_id"]]


def test_an_overdue_pipeline_raises_its_alert_and_a_success_resolves_it(warehouse, dagster_instance, notify_env,
                                                                         make_pipeline):
    from datetime import UTC, datetime, timedelta

    pipeline = unique_id("overdue")
    never = unique_id("never")
    for pid in (pipeline, never):
        make_pipeline({"pipeline_id": pid, "priority": "critical",
                       "schedule": {"type": "cron", "expression": "0 * * * *", "timezone": "UTC"},
                       "data_sources": [{"id": "rows", "type": "csv", "path": "data/rows.csv"}]})
    now = datetime.now(UTC)
    cursor = evaluate(dagster_instance, warehouse, None).cursor
    helpers.test_job.execute_in_process(instance=dagster_instance, tags={"cleanops/pipeline": pipeline})
    cursor = evaluate(dagster_instance, warehouse, cursor, overdue_every=0).cursor
    assert open_alerts(warehouse, pipeline) == []

    later = evaluate(dagster_instance, warehouse, cursor, overdue_every=0, now=now + timedelta(hours=3))
    [alert] = open_alerts(warehouse, pipeline)
    assert (alert["rule"], alert["severity"]) == ("overdue", "error") and alert["alert_id"] in later.raised
    assert "window is 2 h" in alert["message"] and "cleanops%2Fpipeline" in alert["link"]
    [never_alert] = open_alerts(warehouse, never)
    assert "since CleanOps first saw it" in never_alert["message"]

    helpers.test_job.execute_in_process(instance=dagster_instance, tags={"cleanops/pipeline": pipeline})
    fixed = evaluate(dagster_instance, warehouse, later.cursor, overdue_every=0)
    assert alert["alert_id"] in fixed.resolved
    assert open_alerts(warehouse, pipeline)[0]["status"] == "resolved"


def test_resource_thresholds_raise_and_clear(warehouse, dagster_instance, notify_env):
    from cleanops.monitoring.alerts.evaluate import PipelinesFolder

    class NoPipelines(PipelinesFolder):
        def specs(self):
            return {}

    notify_env.setenv("CLEANOPS_ALERT_DISK_PERCENT", "0")
    notify_env.setenv("CLEANOPS_ALERT_MEMORY_PERCENT", "0")
    cursor = evaluate(dagster_instance, warehouse, None).cursor
    raised = evaluate(dagster_instance, warehouse, cursor, overdue_every=0, pipelines=NoPipelines())
    alerts = {a["rule"]: a for a in store.listing(warehouse, pipeline_id="cleanops")}
    assert {"disk_usage", "memory_usage"} <= set(alerts)
    assert alerts["disk_usage"]["alert_id"] in raised.raised + raised.bumped
    assert "threshold 0 %" in alerts["memory_usage"]["message"]
    notify_env.setenv("CLEANOPS_ALERT_DISK_PERCENT", "100")
    notify_env.setenv("CLEANOPS_ALERT_MEMORY_PERCENT", "100")
    cleared = evaluate(dagster_instance, warehouse, raised.cursor, overdue_every=0, pipelines=NoPipelines())
    assert {alerts["disk_usage"]["alert_id"], alerts["memory_usage"]["alert_id"]} <= set(cleared.resolved)
    assert store.listing(warehouse, pipeline_id="cleanops") == []
