"""Pipeline transformations → dbt model files.

The pipeline file stays the single description: each anonymization, cleansing, enrichment
or aggregation step becomes one dbt view in schema `transform`, chained in file order from
the pipeline's first staged source, and each destination becomes a model in `marts` (or the
schema the destination names), incremental unless the chain aggregates.

Everything that reaches SQL is either a validated identifier (schema.py's pattern, then
double-quoted here), a fixed template, or a derived expression already re-rendered by
sqlglot (cleanops.pipelines.expressions). The HMAC key never appears: the SQL reads the
key's pads from a session setting that the dbt asset passes through PGOPTIONS.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field

import yaml

from cleanops.pipelines.loader import LoadedPipeline
from cleanops.pipelines.naming import (
    STAGING_SCHEMA, destination_model_name, staging_table_name, step_model_name,
)
from cleanops.pipelines.schema import (
    AggregationStep, AnonymizationStep, CleansingStep, EnrichmentStep, Join, ValidationStep,
)

logger = logging.getLogger("cleanops")
STEP_SCHEMA = "transform"
STAGING_SOURCE = STAGING_SCHEMA  # dbt's source of the staged tables is named like their schema
HMAC_INNER_SETTING = "cleanops.hmac_ipad"
HMAC_OUTER_SETTING = "cleanops.hmac_opad"
CASE_FUNCTIONS = {"upper": "upper", "lower": "lower", "title": "initcap"}


def q(identifier: str) -> str:
    """Double-quote an identifier that schema.py has already matched against its pattern."""
    if '"' in identifier or not identifier:
        raise ValueError(f"not a valid identifier: {identifier!r}")
    return f'"{identifier}"'


def rendered(relation: str) -> str:
    """A Jinja relation expression (`ref('x')`, `source('staging', 'y')`) as SQL text."""
    return f"{{{{ {relation} }}}}"


def jinja_value(value) -> str:
    """A Python value as a Jinja literal (JSON is valid Jinja for strings, lists and dicts)."""
    return json.dumps(value, sort_keys=True)


@dataclass
class GeneratedModel:
    name: str
    sql: str
    properties: dict
    role: str  # "step" or "destination"


@dataclass
class GeneratedPipeline:
    slug: str
    models: list[GeneratedModel] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    uses_hmac: bool = False


# --- anonymization -----------------------------------------------------------------------

def anonymize_expression(column: str, method: str, keep_start: int = 1) -> str | None:
    """SQL for one anonymised column; None means drop it."""
    value = f"{q(column)}::text"
    if method == "hash_sha256":
        return f"encode(sha256(convert_to({value}, 'UTF8')), 'hex')"
    if method == "hmac_sha256":
        # Scalar sub-selects become init plans: the pads are decoded once per query, not per row.
        inner = f"sha256((select decode(current_setting('{HMAC_INNER_SETTING}'), 'hex')) || convert_to({value}, 'UTF8'))"
        return f"encode(sha256((select decode(current_setting('{HMAC_OUTER_SETTING}'), 'hex')) || {inner}), 'hex')"
    if method == "mask":
        keep = int(keep_start)
        return (f"case when {value} is null then null when position('@' in {value}) > 0 "
                f"then left({value}, {keep}) || '***' || substr({value}, position('@' in {value})) "
                f"else left({value}, {keep}) || '***' end")
    if method == "redact":
        return f"case when {q(column)} is null then null else '[REDACTED]' end"
    if method == "drop":
        return None
    raise ValueError(f"unknown anonymization method {method!r}")


def anonymization_sql(step: AnonymizationStep, upstream: str) -> str:
    replace, drop = {}, []
    for column, spec in step.config.fields.items():
        expression = anonymize_expression(column, spec.method, spec.keep_start)
        if expression is None:
            drop.append(column)
        else:
            replace[column] = expression
    return f"{{{{ cleanops_select_replacing({upstream}, replace={jinja_value(replace)}, drop={jinja_value(drop)}) }}}}\n"


# --- cleansing ---------------------------------------------------------------------------

def cleansing_expression(column: str, step: CleansingStep) -> str:
    config = step.config
    expression = q(column)
    if column in config.trim or column in config.null_if_empty or column in config.case:
        expression = f"{expression}::text"
    if column in config.trim:
        expression = f"btrim({expression})"
    if column in config.null_if_empty:
        expression = f"nullif(btrim({expression}), '')"
    case = config.case.get(column)
    if case:
        expression = f"{CASE_FUNCTIONS[case]}({expression})"
    dates = config.dates.get(column)
    if dates:
        if dates.format:
            function = "to_date" if dates.to == "date" else "to_timestamp"
            expression = f"{function}(nullif(btrim({expression}::text), ''), '{dates.format}')"
        else:
            expression = f"({expression})::{'date' if dates.to == 'date' else 'timestamptz'}"
    return expression


# `_cleanops_loaded_at` was a per-row column before load ids; it still means load order.
LOAD_ORDER_ALIASES = ("_cleanops_load_id", "_cleanops_loaded_at")


def cleansing_sql(step: CleansingStep, upstream: str) -> str:
    config = step.config
    columns = dict.fromkeys([*config.trim, *config.null_if_empty, *config.case, *config.dates])
    replace = {column: cleansing_expression(column, step) for column in columns}
    projection = f"{{{{ cleanops_select_replacing({upstream}, replace={jinja_value(replace)}) }}}}"
    if config.dedupe is None:
        return projection + "\n"
    keys = ", ".join(q(c) for c in config.dedupe.key)
    direction = "desc" if config.dedupe.keep == "latest" else "asc"
    order_by = config.dedupe.order_by
    if order_by in LOAD_ORDER_ALIASES:  # load order: later loads, then later rows in their origin
        order_by = "_cleanops_load_id"
    tiebreak = f", {q('_cleanops_row_number')} {direction}" if order_by == "_cleanops_load_id" else ""
    return (f"with projected as (\n{projection}\n)\n"
            f"select distinct on ({keys}) *\nfrom projected\n"
            f"order by {keys}, {q(order_by)} {direction} nulls last{tiebreak}\n")


# --- enrichment --------------------------------------------------------------------------

def join_relation(join: Join, pipeline: LoadedPipeline) -> str:
    if join.source:
        return f"{{{{ source('{STAGING_SOURCE}', '{staging_table_name(pipeline.spec.slug, join.source)}') }}}}"
    if join.seed or join.model:
        return f"{{{{ ref('{join.seed or join.model}') }}}}"
    return ".".join(q(part) for part in join.table.split("."))


def enrichment_sql(step: EnrichmentStep, upstream: str, pipeline: LoadedPipeline) -> str:
    config = step.config
    selected, joins = ["base.*"], []
    for index, join in enumerate(config.joins, start=1):
        alias = f"ref_{index}"
        selected += [f"{alias}.{q(right)} as {q(new)}" for new, right in join.columns.items()]
        condition = " and ".join(f"base.{q(left)} = {alias}.{q(right)}" for left, right in join.on.items())
        joins.append(f"{join.how} join {join_relation(join, pipeline)} as {alias} on {condition}")
    joined = f"select {', '.join(selected)}\nfrom {rendered(upstream)} as base\n" + "\n".join(joins)
    if not config.derived:
        return joined + "\n"
    derived = ", ".join(f"({expression}) as {q(name)}" for name, expression in config.derived.items())
    return f"with joined as (\n{joined}\n)\nselect joined.*, {derived}\nfrom joined\n"


# --- aggregation -------------------------------------------------------------------------

def measure_sql(function: str, column: str | None) -> str:
    if column is None:
        return "count(*)"
    if function == "count_distinct":
        return f"count(distinct {q(column)})"
    return f"{function}({q(column)})"


def aggregation_sql(step: AggregationStep, upstream: str) -> str:
    config = step.config
    groups = [q(c) for c in config.group_by]
    measures = [f"{measure_sql(m.function, m.column)} as {q(name)}" for name, m in config.measures.items()]
    group_by = f"\ngroup by {', '.join(groups)}" if groups else ""
    return f"select {', '.join(groups + measures)}\nfrom {rendered(upstream)}{group_by}\n"


# --- models ------------------------------------------------------------------------------

def step_sql(step, upstream: str, pipeline: LoadedPipeline) -> str:
    if isinstance(step, AnonymizationStep):
        return anonymization_sql(step, upstream)
    if isinstance(step, CleansingStep):
        return cleansing_sql(step, upstream)
    if isinstance(step, EnrichmentStep):
        return enrichment_sql(step, upstream, pipeline)
    if isinstance(step, AggregationStep):
        return aggregation_sql(step, upstream)
    raise TypeError(f"not a dbt step: {step!r}")


def model_config(**values) -> str:
    arguments = ", ".join(f"{key}={jinja_value(value)}" for key, value in values.items() if value is not None)
    return f"{{{{ config({arguments}) }}}}\n"


def meta(pipeline: LoadedPipeline, **extra) -> dict:
    return {"cleanops": {"pipeline_id": pipeline.spec.pipeline_id, "pipeline_slug": pipeline.spec.slug, **extra}}


def destination_model(pipeline: LoadedPipeline, destination, upstream: str, state: dict) -> GeneratedModel:
    schema, table = destination.schema_name, destination.table_name
    name = destination_model_name(pipeline.spec.slug, destination.table)
    incremental = not state["aggregated"]
    key = state["dedupe_key"] if incremental else None
    header = model_config(
        materialized="incremental" if incremental else "table", schema=schema, alias=table,
        unique_key=key, on_schema_change="append_new_columns" if incremental else None)
    body = f"select * from {rendered(upstream)} as src\n"
    if incremental:
        body += ("{% if is_incremental() %}\nwhere not exists (\n    select 1 from {{ this }} as done\n"
                 "    where done.\"_cleanops_load_id\" = src.\"_cleanops_load_id\")\n{% endif %}\n")
    properties = {
        "name": name,
        "description": f"Destination `{schema}.{table}` of pipeline {pipeline.spec.pipeline_id}"
                       f" ({'incremental by staged batch' if incremental else 'rebuilt each run'}).",
        "config": {"meta": meta(pipeline, role="destination", table=destination.relation)},
        "columns": destination_tests(state),
    }
    return GeneratedModel(name, header + body, properties, "destination")


def destination_tests(state: dict) -> list[dict]:
    """dbt tests on the destination, which dagster-dbt turns into asset checks."""
    tests: dict[str, list] = {}
    for column in state["not_null"]:
        tests.setdefault(column, []).append("not_null")
    unique = state["group_by"] if state["aggregated"] else state["dedupe_key"]
    if unique and len(unique) == 1:
        tests.setdefault(unique[0], []).append("unique")
    return [{"name": column, "data_tests": names} for column, names in tests.items()]


def generate_pipeline(pipeline: LoadedPipeline) -> GeneratedPipeline:
    """The dbt models of one pipeline (none when it has neither steps nor destinations)."""
    spec = pipeline.spec
    generated = GeneratedPipeline(spec.slug)
    generated.sources = [{"name": staging_table_name(spec.slug, s.id),
                          "config": {"meta": meta(pipeline, source_id=s.id)}} for s in spec.data_sources]
    first = generated.sources[0]["name"]
    upstream = f"source('{STAGING_SOURCE}', '{first}')"
    validation = spec.validation()
    state = {"aggregated": False, "dedupe_key": None, "group_by": None, "not_null": list(validation.required_fields)}
    for position, step in enumerate(spec.transformations, start=1):
        if isinstance(step, ValidationStep):
            continue
        name = step_model_name(spec.slug, position, step.type)
        sql = model_config(materialized="view", schema=STEP_SCHEMA) + step_sql(step, upstream, pipeline)
        generated.models.append(GeneratedModel(name, sql, {
            "name": name, "description": f"Step {position} ({step.type}) of pipeline {spec.pipeline_id}.",
            "config": {"meta": meta(pipeline, role="step", step=position, type=step.type)}}, "step"))
        _track_state(step, state)
        generated.uses_hmac |= isinstance(step, AnonymizationStep) and any(
            f.method == "hmac_sha256" for f in step.config.fields.values())
        upstream = f"ref('{name}')"
    for destination in spec.destinations:
        generated.models.append(destination_model(pipeline, destination, upstream, state))
    return generated


def _track_state(step, state: dict) -> None:
    """What later models need to know: shape changes, keys, columns that stay not-null."""
    if isinstance(step, AnonymizationStep):
        gone = {c for c, f in step.config.fields.items() if f.method == "drop"}
        state["not_null"] = [c for c in state["not_null"] if c not in gone]
    elif isinstance(step, CleansingStep):
        if step.config.dedupe:
            state["dedupe_key"] = list(step.config.dedupe.key)
        emptied = set(step.config.null_if_empty) | set(step.config.dates)
        state["not_null"] = [c for c in state["not_null"] if c not in emptied]
    elif isinstance(step, AggregationStep):
        state.update(aggregated=True, dedupe_key=None, group_by=list(step.config.group_by),
                     not_null=list(step.config.group_by))


# --- files -------------------------------------------------------------------------------

def render_files(pipelines: list[LoadedPipeline]) -> dict[str, str]:
    """Relative path under models/generated → file content, for every pipeline."""
    files: dict[str, str] = {}
    sources: list[dict] = []
    relations: dict[str, str] = {}
    for pipeline in pipelines:
        generated = generate_pipeline(pipeline)
        clash = _relation_clash(pipeline, relations)
        if clash:
            logger.warning(clash)
            continue
        sources += generated.sources
        for model in generated.models:
            files[f"{generated.slug}/{model.name}.sql"] = model.sql
        if generated.models:
            files[f"{generated.slug}/_{generated.slug}.yml"] = yaml.safe_dump(
                {"version": 2, "models": [m.properties for m in generated.models]}, sort_keys=False)
    if not sources:
        return files
    files["_staging_sources.yml"] = yaml.safe_dump({"version": 2, "sources": [{
        "name": STAGING_SOURCE, "schema": STAGING_SCHEMA,
        "description": "Validated rows staged by CleanOps ingestion, one table per pipeline source.",
        "tables": sources}]}, sort_keys=False)
    return files


def destination_relations(pipeline: LoadedPipeline) -> list[str]:
    return [d.relation for d in pipeline.spec.destinations]


def _relation_clash(pipeline: LoadedPipeline, relations: dict[str, str]) -> str | None:
    """Two pipelines writing one table would make dbt refuse the whole project: skip the later one."""
    for relation in destination_relations(pipeline):
        if relation in relations:
            return (f"pipeline {pipeline.spec.pipeline_id}: destination {relation} is already written by "
                    f"{relations[relation]}; its dbt models are left out")
    for relation in destination_relations(pipeline):
        relations[relation] = pipeline.spec.pipeline_id
    return None


def fingerprint(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path].encode() + b"\0")
    return digest.hexdigest()


def pipelines_using_hmac(pipelines: list[LoadedPipeline]) -> list[str]:
    return [p.spec.pipeline_id for p in pipelines if generate_pipeline(p).uses_hmac]
