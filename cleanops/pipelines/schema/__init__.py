"""The pipeline file, as a pydantic schema.

One file describes one pipeline in the format of the seed sample
(`shared/samples/pipeline_config.json`). Each block of the file has its module here; every
model refuses keys it does not know (see base.Strict). This package re-exports the public
names, so `from cleanops.pipelines.schema import X` is the one import the rest of CleanOps needs.
"""

from cleanops.pipelines.naming import MAX_SQL_NAME, staging_table_name, to_identifier
from cleanops.pipelines.schema.base import (
    IDENTIFIER_PATTERN, SLUG_PATTERN, TABLE_PATTERN, DataType, Identifier, Slug, Strict,
)
from cleanops.pipelines.schema.destinations import Destination
from cleanops.pipelines.schema.pipeline import PipelineSpec
from cleanops.pipelines.schema.quality import QualityConfig, QualityRule, QualityRuleType
from cleanops.pipelines.schema.runs import Notifications, Resources, RetryPolicyConfig
from cleanops.pipelines.schema.scheduling import (
    MIN_SENSOR_INTERVAL_SECONDS, ExternalTrigger, FileArrivalTrigger, NewRowsTrigger, Schedule, Trigger,
    is_valid_cron,
)
from cleanops.pipelines.schema.sources import ApiSource, DataSource, FileSource, Pagination, SqlSource
from cleanops.pipelines.schema.transformations import (
    AggregationConfig, AggregationStep, AnonymizationConfig, AnonymizationMethod, AnonymizationStep, CleansingConfig,
    CleansingStep, DateNormalisation, DedupeConfig, EnrichmentConfig, EnrichmentStep, FieldAnonymization, Join, Measure,
    OtherStep, Range, Transformation, ValidationConfig, ValidationStep, merge_validation,
)

__all__ = [
    "MAX_SQL_NAME", "staging_table_name", "to_identifier",
    "IDENTIFIER_PATTERN", "SLUG_PATTERN", "TABLE_PATTERN", "DataType", "Identifier", "Slug", "Strict",
    "Destination", "PipelineSpec", "QualityConfig", "QualityRule", "QualityRuleType",
    "Notifications", "Resources", "RetryPolicyConfig",
    "MIN_SENSOR_INTERVAL_SECONDS", "ExternalTrigger", "FileArrivalTrigger", "NewRowsTrigger", "Schedule", "Trigger",
    "is_valid_cron",
    "ApiSource", "DataSource", "FileSource", "Pagination", "SqlSource",
    "AggregationConfig", "AggregationStep", "AnonymizationConfig", "AnonymizationMethod", "AnonymizationStep",
    "CleansingConfig", "CleansingStep", "DateNormalisation", "DedupeConfig", "EnrichmentConfig", "EnrichmentStep",
    "FieldAnonymization", "Join", "Measure", "OtherStep", "Range", "Transformation", "ValidationConfig",
    "ValidationStep", "merge_validation",
]
