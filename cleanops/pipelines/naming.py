"""Every name CleanOps derives from a pipeline file: SQL identifiers, tables, asset keys, op names.

A pipeline's staging table, its asset key, the op that loads it, its dbt models and its
destination relation are all spelled from the file's ids. They are written here once, so
the loader that checks a name and the code that uses it can never disagree (a staging table
validated under one rule and created under another would collide silently).
"""

from __future__ import annotations

import hashlib
import re

import dagster as dg

MAX_SQL_NAME = 63  # PostgreSQL truncates longer identifiers, so two long names could silently meet
STAGING_SCHEMA = "staging"
DEFAULT_DESTINATION_SCHEMA = "marts"  # the schema of a destination table named without one


def to_identifier(name: str) -> str:
    """A slug as a lower-case SQL identifier: `user-data-etl-001` → `user_data_etl_001`."""
    return re.sub(r"[^a-z0-9_]", "_", name.lower())


# --- staging -----------------------------------------------------------------------------

def staging_table_name(pipeline_slug: str, source_id: str) -> str:
    """`<pipeline>__<source>`: the source's staging and quarantine table and its asset key."""
    name = f"{pipeline_slug}__{to_identifier(source_id)}"
    if len(name) > MAX_SQL_NAME:
        raise ValueError(f"staging table name {name!r} is longer than PostgreSQL's {MAX_SQL_NAME} characters: "
                         f"shorten the pipeline_id or the source id")
    return name


def staging_table_key(table: str) -> dg.AssetKey:
    """`staging/<table>`: the asset of a staging table, also dbt's `staging` source table."""
    return dg.AssetKey([STAGING_SCHEMA, table])


def staging_asset_key(pipeline_slug: str, source_id: str) -> dg.AssetKey:
    """`staging/<pipeline>__<source>`: the ingestion asset of a pipeline's source."""
    return staging_table_key(staging_table_name(pipeline_slug, source_id))


def staging_op_name(pipeline_slug: str, source_id: str) -> str:
    """The op of a source's ingestion asset: where run config (`files`, `full_refresh`) goes."""
    return staging_asset_key(pipeline_slug, source_id).to_python_identifier()


def ingestion_run_config(pipeline_slug: str, config_by_source: dict[str, dict]) -> dict:
    """Run config giving each named source's ingestion op its config: `{"ops": {op: {"config": …}}}`."""
    return {"ops": {staging_op_name(pipeline_slug, source_id): {"config": config}
                    for source_id, config in config_by_source.items()}}


# --- destinations ------------------------------------------------------------------------

def destination_relation(table: str) -> tuple[str, str]:
    """A destination's `schema.table` or `table` (in marts) as (schema, table)."""
    schema, _, name = table.rpartition(".")
    return schema or DEFAULT_DESTINATION_SCHEMA, name


def destination_asset_key(table: str) -> dg.AssetKey:
    """`<schema>/<table>`: the key dbt's destination model is given (see transform.translator)."""
    return dg.AssetKey(list(destination_relation(table)))


# --- dbt models --------------------------------------------------------------------------

def dbt_model_name(pipeline_slug: str, suffix: str) -> str:
    """`<slug>__<suffix>`, shortened with a hash when PostgreSQL's 63 characters would not hold it."""
    name = f"{pipeline_slug}__{suffix}"
    if len(name) <= MAX_SQL_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{pipeline_slug[:MAX_SQL_NAME - len(suffix) - 12]}_{digest}__{suffix}"[:MAX_SQL_NAME]


def step_model_name(pipeline_slug: str, position: int, step_type: str) -> str:
    """The dbt view of transformation `position` (1-based, in file order)."""
    return dbt_model_name(pipeline_slug, f"s{position:02d}_{step_type}")


def destination_model_name(pipeline_slug: str, table: str) -> str:
    """The dbt model that writes a destination (its alias is the bare table name)."""
    return dbt_model_name(pipeline_slug, destination_relation(table)[1])
