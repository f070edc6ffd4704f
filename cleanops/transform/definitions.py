"""dbt models as Dagster assets, built from the prepared manifest (no dbt parse here)."""



import logging

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, dbt_assets

from cleanops.pipelines.loader import LoadResult
from cleanops.transform import models, project
from cleanops.transform.translator import CleanOpsTranslator

logger = logging.getLogger("cleanops")
DBT_ASSETS_NAME = "cleanops_dbt_models"


def build_dbt_assets(hmac_required: bool) -> dg.AssetsDefinition:
    @dbt_assets(manifest=project.manifest_path(), project=project.dbt_project(),
                dagster_dbt_translator=CleanOpsTranslator(), name=DBT_ASSETS_NAME)
    def cleanops_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource):
        """`dbt build` of the selected models; their tests report as asset checks."""
        with project.hmac_session_settings(required=hmac_required):
            invocation = dbt.cli(["build"], context=context)
        yield from invocation.stream().fetch_column_metadata(with_column_lineage=True)

    return cleanops_dbt_models


def build(result: LoadResult) -> dg.Definitions:
    if not project.manifest_path().exists():
        logger.warning("no dbt manifest at %s: run `python -m cleanops.transform.prepare`; "
                       "dbt models are left out", project.manifest_path())
        return dg.Definitions()
    if project.is_stale(result):
        logger.warning("the dbt manifest was prepared from other pipeline files: run "
                       "`python -m cleanops.transform.prepare` to include the latest transformations")
    hmac_required = bool(models.pipelines_using_hmac(result.pipelines))
    return dg.Definitions(assets=[build_dbt_assets(hmac_required)], resources={"dbt": project.dbt_resource()})
