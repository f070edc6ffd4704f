"""How dbt nodes appear in the Dagster graph.

dbt's `staging` source tables are the ingestion assets themselves (`staging/<table>`), so
source → staged table → models → destination is one lineage. Models are keyed by the
relation they build (`marts/processed_users`, `transform/<step view>`), and grouped by the
pipeline named in their meta, so a pipeline's job (`AssetSelection.groups(slug)`) runs
ingestion and its dbt models together. Hand-written models join a pipeline's group by setting
`meta: {cleanops: {pipeline_slug: ...}}`; otherwise they sit in group `dbt`.
"""

from __future__ import annotations

from typing import Any, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from cleanops.pipelines.naming import staging_table_key
from cleanops.transform.models import STAGING_SOURCE

DEFAULT_GROUP = "dbt"


def cleanops_meta(props: Mapping[str, Any]) -> Mapping[str, Any]:
    config_meta = (props.get("config") or {}).get("meta") or {}
    return config_meta.get("cleanops") or (props.get("meta") or {}).get("cleanops") or {}


class CleanOpsTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        props = dbt_resource_props
        if props["resource_type"] == "source" and props.get("source_name") == STAGING_SOURCE:
            return staging_table_key(props["name"])
        if props["resource_type"] in ("model", "seed", "snapshot"):
            return dg.AssetKey([props["schema"], props.get("alias") or props["name"]])
        return super().get_asset_key(props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return cleanops_meta(dbt_resource_props).get("pipeline_slug") or DEFAULT_GROUP

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        slug = cleanops_meta(dbt_resource_props).get("pipeline_slug")
        return {**super().get_tags(dbt_resource_props), **({"cleanops/pipeline": slug} if slug else {})}
