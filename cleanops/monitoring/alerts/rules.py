"""The alert rules: what a Dagster event means as a finding, and the text people read.

- `run_failure` (error): a run ended FAILURE; resolved by the pipeline's next SUCCESS.
- `check_failed_blocking` (error): an asset check with severity ERROR failed (CleanOps'
  `severity: error` rules, which block downstream assets).
- `check_failed_warning` (warning): an asset check with severity WARN failed.
  Both check rules are resolved when the same check passes on the same asset.

Any rule can be switched off with CLEANOPS_ALERT_DISABLED_RULES; resolution still applies.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from cleanops import settings
from cleanops.monitoring.alerts.store import Finding

RUN_FAILURE = "run_failure"
CHECK_BLOCKING = "check_failed_blocking"
CHECK_WARNING = "check_failed_warning"
CHECK_RULES = (CHECK_BLOCKING, CHECK_WARNING)
RULES = (RUN_FAILURE, CHECK_BLOCKING, CHECK_WARNING)
PIPELINE_TAG = "cleanops/pipeline"


def pipeline_of(run: dg.DagsterRun | None, job_name: str | None) -> str:
    """The pipeline a run belongs to: its `cleanops/pipeline` tag, else the job's name."""
    if run is not None:
        return run.tags.get(PIPELINE_TAG) or run.job_name
    return job_name or "unknown"


def run_link(run_id: str) -> str:
    return f"/runs/{run_id}"


def asset_link(asset_key: dg.AssetKey) -> str:
    return "/assets/" + "/".join(asset_key.path)


def when(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def run_failed(pipeline_id: str, run_id: str, job_name: str, timestamp: float, reason: str | None) -> Finding:
    why = f": {reason}" if reason else ""
    return Finding(RUN_FAILURE, pipeline_id, "error", f"run {run_id} of job {job_name} failed{why}",
                   run_link(run_id), when(timestamp), run_id=run_id)


def check_failed(pipeline_id: str, run_id: str, evaluation: dg.AssetCheckEvaluation, timestamp: float) -> Finding:
    blocking = evaluation.severity == dg.AssetCheckSeverity.ERROR
    kind = "blocking" if blocking else "warning"
    asset = "/".join(evaluation.asset_key.path)
    return Finding(CHECK_BLOCKING if blocking else CHECK_WARNING, pipeline_id, "error" if blocking else "warning",
                   f"{kind} check {evaluation.check_name} failed on asset {asset} (run {run_id})",
                   asset_link(evaluation.asset_key), when(timestamp), run_id=run_id, asset_key=asset,
                   check_name=evaluation.check_name)


NEXT_STEPS = {
    RUN_FAILURE: "open the run, read the failed step's error and logs, fix the cause (source, credentials, "
                 "data) and re-run the pipeline (`cleanops pipelines run PIPELINE`); a success resolves this alert.",
    CHECK_BLOCKING: "open the asset's Checks tab, look at the failing rows (`cleanops quarantine`), fix the data "
                    "or the rule; downstream assets did not run. The next passing check resolves this alert.",
    CHECK_WARNING: "open the asset's Checks tab and decide whether the data or the rule is wrong; downstream "
                   "assets ran. The next passing check resolves this alert.",
}


def text(alert: dict, event: str) -> tuple[str, str]:
    """Title and body of the one message about an alert being raised or resolved."""
    link = settings.ui_url() + (alert.get("link") or "")
    where = f"pipeline {alert['pipeline_id']}" + (f", asset {alert['asset_key']}" if alert.get("asset_key") else "")
    if event == "resolved":
        title = f"[CleanOps] resolved: {alert['rule']} on {where}"
        body = (f"Resolved: {alert['message']}\nWhere: {where}\nLink: {link}\n"
                f"Open since {alert['first_seen']:%Y-%m-%d %H:%M:%S %Z} ({alert['occurrences']} occurrence(s)); "
                f"resolved by {alert.get('resolved_by') or 'success'}.\nNothing to do.")
        return title, body
    title = f"[CleanOps] {alert['severity']}: {alert['rule']} on {where}"
    body = (f"What: {alert['message']}\nWhere: {where}\nLink: {link}\n"
            f"Since: {alert['first_seen']:%Y-%m-%d %H:%M:%S %Z}\n"
            f"Next: {NEXT_STEPS.get(alert['rule'], 'open the link and investigate.')}\n"
            f"Alert {alert['alert_id']}: `cleanops alerts ack {alert['alert_id']}` to acknowledge, "
            f"`cleanops alerts resolve {alert['alert_id']}` to close it.")
    return title, body


SLOW_RUN = "slow_run"
ROWS_REJECTED = "rows_rejected"
SLOW_HISTORY = 20
SLOW_MIN_HISTORY = 5


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def slow_run(pipeline_id: str, run_id: str, duration: float, typical: float, factor: float,
             timestamp: float) -> Finding:
    return Finding(SLOW_RUN, pipeline_id, "warning",
                   f"run {run_id} took {duration:.1f} s, {duration / typical:.1f}x the median {typical:.1f} s "
                   f"of the last successful runs (threshold {factor:g}x)", run_link(run_id), when(timestamp),
                   run_id=run_id)


def rejected_share(metadata: dict) -> tuple[int, int] | None:
    """(rejected, read) of an ingestion materialization, None for any other asset."""
    def number(name):
        value = getattr(metadata.get(name), "value", metadata.get(name))
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    rejected, read = number("records_rejected"), number("records_extracted")
    return (rejected, read) if rejected is not None and read else None


def rows_rejected(pipeline_id: str, run_id: str, asset_key: dg.AssetKey, rejected: int, read: int, share: float,
                  timestamp: float) -> Finding:
    asset = "/".join(asset_key.path)
    return Finding(ROWS_REJECTED, pipeline_id, "warning",
                   f"{rejected} of {read} rows ({100 * rejected / read:.1f} %) were rejected into quarantine "
                   f"loading {asset} in run {run_id} (threshold {100 * share:g} %)", asset_link(asset_key),
                   when(timestamp), run_id=run_id, asset_key=asset)


NEXT_STEPS[SLOW_RUN] = ("open the run's timeline to see which step grew (source volume, a slow database, "
                        "contention in the pool); the next run within the threshold resolves this alert.")
NEXT_STEPS[ROWS_REJECTED] = ("review the rejected rows (`cleanops quarantine list PIPELINE`): a changed source "
                             "format or a too strict rule; the next load under the threshold resolves this alert.")


OVERDUE = "overdue"
NEXT_STEPS[OVERDUE] = ("check that its schedule or sensor is running (Automation tab), that runs are not stuck in "
                       "the queue and that the source delivered; the next success resolves this alert.")


def overdue(pipeline_id: str, since: datetime, window_seconds: float, succeeded: bool, now: datetime) -> Finding:
    what = "no successful run" if succeeded else "no successful run since CleanOps first saw it"
    return Finding(OVERDUE, pipeline_id, "error",
                   f"pipeline {pipeline_id} is overdue: {what} since {since:%Y-%m-%d %H:%M:%S %Z} "
                   f"(its window is {window_seconds / 3600:g} h)", pipeline_runs_link(pipeline_id), now)


def pipeline_runs_link(pipeline_id: str) -> str:
    """The Runs page filtered to the pipeline's tag."""
    from urllib.parse import quote

    return "/runs?q%5B0%5D=" + quote(f"tag:{PIPELINE_TAG}={pipeline_id}", safe="")


DISK_USAGE = "disk_usage"
MEMORY_USAGE = "memory_usage"
RESOURCE_RULES = (DISK_USAGE, MEMORY_USAGE)
SYSTEM = "cleanops"  # the pipeline_id of alerts about the machine rather than a pipeline
NEXT_STEPS[DISK_USAGE] = ("run `cleanops cleanup run` (or `cleanops cleanup run --dry-run` first), review retention "
                          "policies (`cleanops cleanup policy list`) or grow the disk; the next check under the "
                          "threshold resolves this alert.")
NEXT_STEPS[MEMORY_USAGE] = ("look for runs with large memory budgets (`resources.memory_mb`), lower "
                            "`resources.max_concurrent`, or add memory; the next check under the threshold resolves "
                            "this alert.")


def resource(rule: str, what: str, percent: float, threshold: float, now: datetime) -> Finding:
    return Finding(rule, SYSTEM, "warning" if rule == MEMORY_USAGE else "error",
                   f"{what} at {percent:.1f} % (threshold {threshold:g} %)", "/assets/cleanops_metrics", now)
