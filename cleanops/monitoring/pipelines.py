"""Pipeline figures from the Dagster instance: runs in a window and what ingestion loaded.

Built for 20,000 runs a day: counts and durations come from one paged pass over the records
of the finished runs in the window (status and time filtered by the run storage, no
per-run queries), queued runs from a SQL count (`get_runs_count`), and the loaded volume
from the materializations of the `staging/...` ingestion assets, paged per asset.
Runs of the metrics job itself are left out, so collecting every 5 minutes does not
inflate the counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime

import dagster as dg

MONITORING_JOB = "collect_metrics"
PIPELINE_TAG = "cleanops/pipeline"
INGESTION_PREFIX = ["staging"]
PAGE = 1000

IN_PROGRESS = (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)
FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def _records(instance: dg.DagsterInstance, filters: dg.RunsFilter) -> Iterator:
    """Every run record matching `filters`, PAGE at a time (newest first)."""
    cursor = None
    while True:
        page = instance.get_run_records(filters, limit=PAGE, cursor=cursor)
        yield from page
        if len(page) < PAGE:
            return
        cursor = page[-1].dagster_run.run_id


def _ours(run: dg.DagsterRun, exclude_run_id: str | None) -> bool:
    return run.job_name == MONITORING_JOB or run.run_id == exclude_run_id


def activity(instance: dg.DagsterInstance, exclude_run_id: str | None = None) -> dict:
    """Pipelines (jobs) with a run in progress, and queued runs, right now."""
    running = {record.dagster_run.tags.get(PIPELINE_TAG) or record.dagster_run.job_name
               for record in _records(instance, dg.RunsFilter(statuses=list(IN_PROGRESS)))
               if not _ours(record.dagster_run, exclude_run_id)}
    queued = instance.get_runs_count(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))
    return {"active_pipelines": len(running), "queued_tasks": queued}


def runs_in_progress(instance: dg.DagsterInstance) -> int:
    """Runs starting, started or canceling now (two SQL counts), the metrics job's left out."""
    statuses = list(IN_PROGRESS)
    return (instance.get_runs_count(dg.RunsFilter(statuses=statuses))
            - instance.get_runs_count(dg.RunsFilter(statuses=statuses, job_name=MONITORING_JOB)))


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted `values` (0.0 for none)."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, math.ceil(share * len(values)) - 1))]


def run_figures(instance: dg.DagsterInstance, since: datetime, exclude_run_id: str | None = None) -> dict:
    """Finished runs created since `since`: counts, success rate, mean and p95 duration."""
    counts = {status: 0 for status in FINISHED}
    durations = []
    for record in _records(instance, dg.RunsFilter(statuses=list(FINISHED), created_after=since)):
        if _ours(record.dagster_run, exclude_run_id):
            continue
        counts[record.dagster_run.status] += 1
        if record.start_time is not None and record.end_time is not None:
            durations.append(max(0.0, record.end_time - record.start_time))
    total = sum(counts.values())
    ok = counts[dg.DagsterRunStatus.SUCCESS]
    durations.sort()
    return {
        "total_executions_24h": total,
        "successful_executions_24h": ok,
        "failed_executions_24h": counts[dg.DagsterRunStatus.FAILURE],
        "canceled_executions_24h": counts[dg.DagsterRunStatus.CANCELED],
        "success_rate_percent": round(100.0 * ok / total, 2) if total else 0.0,
        "avg_execution_time_seconds": round(sum(durations) / len(durations), 3) if durations else 0.0,
        "p95_execution_time_seconds": round(percentile(durations, 0.95), 3),
    }


def _materializations(instance: dg.DagsterInstance, key: dg.AssetKey, since: datetime) -> Iterator:
    cursor = None
    while True:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_timestamp=since.timestamp()), limit=PAGE, cursor=cursor)
        yield from result.records
        if not result.has_more:
            return
        cursor = result.cursor


def _number(metadata: dict, name: str) -> float:
    value = metadata.get(name)
    value = getattr(value, "value", value)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def loaded_figures(instance: dg.DagsterInstance, since: datetime) -> dict:
    """What the ingestion assets staged since `since`, from their materialization metadata
    (`data_volume_mb`, `records_extracted`, `records_loaded`, `records_rejected`)."""
    megabytes = extracted = loaded = rejected = 0.0
    for key in instance.get_asset_keys(prefix=INGESTION_PREFIX):
        for record in _materializations(instance, key, since):
            materialization = record.asset_materialization
            metadata = materialization.metadata if materialization else {}
            megabytes += _number(metadata, "data_volume_mb")
            extracted += _number(metadata, "records_extracted")
            loaded += _number(metadata, "records_loaded")
            rejected += _number(metadata, "records_rejected")
    return {"total_data_processed_gb": round(megabytes / 1000, 6), "data_processed_mb": round(megabytes, 3),
            "records_extracted": int(extracted),
            "records_processed": int(loaded), "records_rejected": int(rejected)}


def pipeline_metrics(instance: dg.DagsterInstance, since: datetime, exclude_run_id: str | None = None,
                     queued: int | None = None) -> dict:
    """The seed's pipeline figures in its order, then the new ones; `queued` when `activity` counted it."""
    runs = run_figures(instance, since, exclude_run_id)
    loaded = loaded_figures(instance, since)
    if queued is None:
        queued = instance.get_runs_count(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))
    seed = ("total_executions_24h", "successful_executions_24h", "failed_executions_24h",
            "avg_execution_time_seconds")
    return {**{k: runs[k] for k in seed}, "total_data_processed_gb": loaded.pop("total_data_processed_gb"),
            "success_rate_percent": runs["success_rate_percent"],
            "canceled_executions_24h": runs["canceled_executions_24h"],
            "p95_execution_time_seconds": runs["p95_execution_time_seconds"], **loaded, "queued_runs": queued}
