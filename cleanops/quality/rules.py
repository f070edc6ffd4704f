"""Which quality rules guard which table.

Rules come from two places in the pipeline file: the validation config (required fields,
patterns, ranges, allowed values, unique keys; staged rows already passed them row by row,
so on staging they catch what row checks cannot see, such as duplicates across loads) and
the `quality` section. Each rule lands on one asset: a staged source table or a destination.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import dagster as dg

from cleanops.pipelines.loader import LoadedPipeline
from cleanops.pipelines.naming import destination_asset_key, staging_asset_key, staging_table_name
from cleanops.pipelines.schema import QualityRule

logger = logging.getLogger("cleanops")
STAGING_KEY_COLUMNS = ("_cleanops_row_number",)
NUMERIC_TYPES = ("integer", "float")


@dataclass(frozen=True)
class CheckRule:
    rule: QualityRule
    origin: str  # "validation" or "quality"

    @property
    def name(self) -> str:
        return self.rule.rule_name

    @property
    def check_name(self) -> str:
        """Dagster check names allow letters, digits and underscores only."""
        return re.sub(r"[^A-Za-z0-9_]", "_", self.name)


@dataclass
class CheckTarget:
    """One table with the rules that run against it."""

    pipeline: LoadedPipeline
    asset_key: dg.AssetKey
    schema: str
    table: str
    key_columns: tuple[str, ...]
    rules: list[CheckRule] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.asset_key.to_user_string()


def validation_rules(pipeline: LoadedPipeline) -> list[CheckRule]:
    spec = pipeline.spec
    severity = spec.quality.validation_rules
    if severity == "off":
        return []
    config = spec.validation()
    rules = [QualityRule(name=f"required_{c}", type="not_null", column=c, severity=severity)
             for c in config.required_fields]
    rules += [QualityRule(name=f"pattern_{c}", type="regex", column=c, pattern=p, severity=severity)
              for c, p in config.patterns.items()]
    # A range on a column not declared numeric is staged as text: GE cannot compare it, and
    # ingestion has already checked every row's number, so no table-level rule is derived.
    rules += [QualityRule(name=f"range_{c}", type="range", column=c, min=r.min, max=r.max, severity=severity)
              for c, r in config.ranges.items()
              if (r.min is not None or r.max is not None) and config.data_types.get(c) in NUMERIC_TYPES]
    rules += [QualityRule(name=f"allowed_values_{c}", type="allowed_values", column=c, values=v, severity=severity)
              for c, v in config.allowed_values.items()]
    rules += [QualityRule(name=f"unique_{'_'.join(k)}", type="unique", columns=k, severity=severity)
              for k in config.unique_keys()]
    return [CheckRule(rule, "validation") for rule in rules]


def _staging_targets(pipeline: LoadedPipeline) -> dict[str, CheckTarget]:
    spec = pipeline.spec
    unique = spec.validation().unique_keys()
    keys = tuple(unique[0]) + STAGING_KEY_COLUMNS if unique else STAGING_KEY_COLUMNS
    return {source.id: CheckTarget(pipeline, staging_asset_key(spec.slug, source.id), "staging",
                                   staging_table_name(spec.slug, source.id), keys)
            for source in spec.data_sources}


def _destination_targets(pipeline: LoadedPipeline) -> dict[str, CheckTarget]:
    targets = {}
    for destination in pipeline.spec.destinations:
        schema, table = destination.schema_name, destination.table_name
        target = CheckTarget(pipeline, destination_asset_key(destination.table), schema, table, ())
        targets[table] = targets[destination.relation] = target
    return targets


def check_targets(pipeline: LoadedPipeline) -> list[CheckTarget]:
    """Every table of the pipeline that has at least one rule."""
    staging, destinations = _staging_targets(pipeline), _destination_targets(pipeline)
    for target in staging.values():
        target.rules.extend(validation_rules(pipeline))
    for rule in pipeline.spec.quality.rules:
        if rule.table == "staging":
            chosen = list(staging.values())
        elif rule.table in staging:
            chosen = [staging[rule.table]]
        elif rule.table in destinations:
            chosen = [destinations[rule.table]]
        else:
            logger.warning("pipeline %s: quality rule %s names unknown table %r (use 'staging', a source id or a "
                           "destination table); skipped", pipeline.spec.pipeline_id, rule.rule_name, rule.table)
            continue
        for target in chosen:
            target.rules = [r for r in target.rules if r.name != rule.rule_name] + [CheckRule(rule, "quality")]
    unique_targets = {id(t): t for t in [*staging.values(), *destinations.values()]}.values()
    return [t for t in unique_targets if t.rules]
