"""`cleanops alerts list|ack|resolve` on alerts raised from real runs."""

import json

from click.testing import CliRunner

from cleanops.cli.main import cli
from cleanops.monitoring.alerts.evaluate import Routing, evaluate
from cleanops_tests.conftest import unique_id
from cleanops_tests.monitoring import helpers


def test_list_ack_resolve(warehouse, dagster_instance, monkeypatch):
    monkeypatch.delenv("CLEANOPS_NOTIFY_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("CLEANOPS_NOTIFY_DEFAULT_TO", raising=False)
    pipeline = unique_id("cli-alert")
    cursor = evaluate(dagster_instance, warehouse, None).cursor
    helpers.test_job.execute_in_process(instance=dagster_instance, raise_on_error=False,
                                        tags={"cleanops/pipeline": pipeline},
                                        run_config={"ops": {"work": {"config": {"fail": True}}}})
    [alert_id] = evaluate(dagster_instance, warehouse, cursor, lambda pid: Routing()).raised
    runner = CliRunner()

    listed = runner.invoke(cli, ["alerts", "list", "--pipeline", pipeline, "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert (row["alert_id"], row["status"], row["rule"]) == (alert_id, "active", "run_failure")
    assert row["link"].startswith("/runs/")
    text = runner.invoke(cli, ["alerts", "list", "--pipeline", pipeline])
    assert str(alert_id) in text.output and "run_failure" in text.output

    acked = runner.invoke(cli, ["alerts", "ack", str(alert_id), "--json"])
    assert acked.exit_code == 0 and json.loads(acked.output)["status"] == "acknowledged"
    resolved = runner.invoke(cli, ["alerts", "resolve", str(alert_id)])
    assert resolved.exit_code == 0 and "acknowledged -> resolved" in resolved.output
    assert json.loads(runner.invoke(cli, ["alerts", "list", "--pipeline", pipeline, "--json"]).output) == []
    everything = json.loads(runner.invoke(cli, ["alerts", "list", "--all", "--pipeline", pipeline, "--json"]).output)
    assert [r["resolved_by"] for r in everything] == ["manual"]

    missing = runner.invoke(cli, ["alerts", "ack", "999999999"])
    assert missing.exit_code == 1 and "no alert 999999999" in missing.output
