"""dbt models as Dagster assets, built from the prepared manifest (no dbt parse here)."""

import logging

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from cleanops.pipelines.loader import LoadResult
from cleanops.quality import history
from cleanops.transform import models, project
from cleanops.transform.translator import CleanOpsTranslator
from cleanops.warehouse import WarehouseResource

logger = logging.getLogger("cleanops")
DBT_ASSETS_NAME = project.INVOCATION_PREFIX.rstrip("-")


def _dbt_test_row(context: AssetExecutionContext, event: dg.AssetCheckResult, pipeline_ids: dict[str, str]):
    slug = context.assets_def.group_names_by_key.get(event.asset_key)
    if slug not in pipeline_ids:
        return None
    failed = event.metadata.get("dagster_dbt/failed_row_count")
    return history.ResultRow(
        pipeline_id=pipeline_ids[slug], asset_key=event.asset_key.to_user_string(), rule_name=event.check_name,
        rule_type="dbt_test", engine="dbt", success=event.passed, run_id=context.run_id,
        severity="warn" if event.severity == dg.AssetCheckSeverity.WARN else "error",
        unexpected_count=getattr(failed, "value", None), observed_value=getattr(failed, "value", None))


def record_dbt_tests(events, context: AssetExecutionContext, pipeline_ids: dict[str, str],
                     warehouse: WarehouseResource):
    """Pass dbt's events through, keeping each test result in the quality history as well."""
    rows = []
    try:
        for event in events:
            if isinstance(event, dg.AssetCheckResult):
                row = _dbt_test_row(context, event, pipeline_ids)
                if row:
                    rows.append(row)
            yield event
    finally:
        history.record(warehouse.engine(), rows)


def needs_hmac(context: AssetExecutionContext, hmac_groups: set[str]) -> bool:
    """Only runs that build a model of a pipeline using hmac_sha256 need the key."""
    groups = context.assets_def.group_names_by_key
    return any(groups.get(key) in hmac_groups for key in context.selected_asset_keys)


def build_dbt_assets(hmac_groups: set[str], pipeline_ids: dict[str, str]) -> dg.AssetsDefinition:
    @dbt_assets(manifest=project.manifest_path(), project=project.dbt_project(),
                dagster_dbt_translator=CleanOpsTranslator(), name=DBT_ASSETS_NAME)
    def cleanops_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
        """`dbt build` of the selected models; their tests report as asset checks."""
        with project.hmac_session_settings(required=needs_hmac(context, hmac_groups)):
            invocation = dbt.cli(["build"], context=context)
        events = invocation.stream().fetch_column_metadata(with_column_lineage=True)
        try:
            yield from record_dbt_tests(events, context, pipeline_ids, warehouse)
        finally:
            project.prune_invocation_dirs()

    return cleanops_dbt_models


def build(result: LoadResult) -> dg.Definitions:
    """The transform area (cleanops/defs/transform/): `result` holds the pipelines that built."""
    if not project.manifest_path().exists():
        logger.warning("no dbt manifest at %s: run `python -m cleanops.transform.prepare`; "
                       "dbt models are left out", project.manifest_path())
        return dg.Definitions()
    if project.is_stale(result):
        logger.warning("the dbt manifest was prepared from other pipeline files: run "
                       "`python -m cleanops.transform.prepare` to include the latest transformations")
    hmac_groups = {p.spec.slug for p in result.pipelines if p.spec.pipeline_id in
                   models.pipelines_using_hmac(result.pipelines)}
    pipeline_ids = {p.spec.slug: p.spec.pipeline_id for p in result.pipelines}
    return dg.Definitions(assets=[build_dbt_assets(hmac_groups, pipeline_ids)], resources={"dbt": project.dbt_resource()})
