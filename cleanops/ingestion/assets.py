"""Dagster assets for ingestion: one asset per pipeline source, `staging/<pipeline>__<source>`."""


import dagster as dg

from cleanops import log_redaction
from cleanops.ingestion import run_source
from cleanops.ingestion.failures import load_failure
from cleanops.ingestion.load import LoadReport, load_source, record_failure, utcnow
from cleanops.pipelines.loader import LoadedPipeline
from cleanops.pipelines.naming import staging_asset_key
from cleanops.scheduling import policy
from cleanops.warehouse import WarehouseResource


class IngestConfig(dg.Config):
    """Run-time options for a load."""

    full_refresh: bool = False  # ignore the watermark and the file ledger: read everything again
    files: list[str] = []  # load only these files (set by a file-arrival sensor), then move them to processed/


def retry_policy_for(pipeline: LoadedPipeline) -> dg.RetryPolicy | None:
    policy = pipeline.spec.retry_policy
    if policy is None or policy.max_retries == 0:
        return None
    backoff = {"exponential": dg.Backoff.EXPONENTIAL, "linear": dg.Backoff.LINEAR, "fixed": None}
    return dg.RetryPolicy(max_retries=policy.max_retries, delay=policy.initial_delay,
                          backoff=backoff[policy.backoff_strategy])


def report_metadata(report: LoadReport) -> dict[str, dg.MetadataValue]:
    """Numbers the Dagster UI plots over time, plus the execution log's steps."""
    counts = report.counts
    metadata: dict[str, object] = {
        "records_extracted": dg.MetadataValue.int(counts.records_read),
        "records_validated": dg.MetadataValue.int(counts.records_staged),
        "records_rejected": dg.MetadataValue.int(counts.records_quarantined),
        "records_loaded": dg.MetadataValue.int(counts.records_staged),
        "data_volume_mb": dg.MetadataValue.float(round(counts.bytes_staged / 1e6, 3)),
        "rejected_by_error_code": dg.MetadataValue.json(dict(counts.rejected_by_code)),
        "table": dg.MetadataValue.text(report.table),
        "steps": dg.MetadataValue.json(report.steps),
        "peak_rss_mb": dg.MetadataValue.float(report.peak_rss_mb),
        "load_seconds": dg.MetadataValue.float(round((report.completed_at - report.started_at).total_seconds(), 3)),
        "rows_staged_this_run": dg.MetadataValue.int(counts.records_staged),
    }
    if report.table_rows is not None:  # the table's total: a run that loaded nothing new still shows its rows
        metadata["dagster/row_count"] = dg.MetadataValue.int(report.table_rows)
    for code, count in counts.rejected_by_code.items():
        metadata[f"rejected_{code.lower()}"] = dg.MetadataValue.int(count)
    if report.files:
        metadata["files"] = dg.MetadataValue.json(report.files)
    return metadata


def asset_kinds(source) -> set[str]:
    """The UI's kind tags: the warehouse (PostgreSQL) and the source's type, "postgres" once
    for a PostgreSQL source rather than both spellings."""
    return {"postgres", "postgres" if source.type == "postgresql" else source.type}


def build_source_asset(pipeline: LoadedPipeline, source,
                       upstream_keys: tuple[dg.AssetKey, ...] = ()) -> dg.AssetsDefinition:
    """`upstream_keys`: assets of the pipelines this one `depends_on` (it runs after they update)."""
    spec = pipeline.spec
    key = staging_asset_key(spec.slug, source.id)

    @dg.asset(
        key=key,
        group_name=spec.slug,
        description=f"{source.type} source {source.id!r} of pipeline {spec.pipeline_id!r}, validated and staged "
                    f"in PostgreSQL; rejected rows go to quarantine.{key.path[-1]}.",
        kinds=asset_kinds(source),
        retry_policy=retry_policy_for(pipeline),
        deps=list(upstream_keys),
        automation_condition=policy.dependency_condition(spec) if upstream_keys else None,
        freshness_policy=policy.freshness_policy(spec),
        pool=policy.pool_name(spec),
        tags={"cleanops/pipeline": spec.slug, "cleanops/priority": spec.priority},
        metadata={"pipeline_file": str(pipeline.file), "source_type": source.type},
    )
    def _ingest(context: dg.AssetExecutionContext, config: IngestConfig,
                warehouse: WarehouseResource) -> dg.MaterializeResult:
        log_redaction.install()
        started_at = utcnow()
        try:
            with run_source.source_for_run(pipeline, source, config.files) as source_this_run:
                report = load_source(pipeline, source_this_run, context.run_id, full_refresh=config.full_refresh,
                                     log=context.log, warehouse=warehouse)
        except Exception as error:
            record_failure(pipeline, source, context.run_id, started_at, error, warehouse)
            raise load_failure(spec.pipeline_id, source.id, error) from None
        run_source.after_load(pipeline, source, config.files, context.log)
        return dg.MaterializeResult(metadata=report_metadata(report))

    return _ingest
