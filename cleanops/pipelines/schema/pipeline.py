"""The whole pipeline file: the top-level keys and the blocks they hold."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cleanops.pipelines.naming import to_identifier
from cleanops.pipelines.schema.base import Slug, Strict
from cleanops.pipelines.schema.destinations import Destination
from cleanops.pipelines.schema.quality import QualityConfig
from cleanops.pipelines.schema.runs import Notifications, Resources, RetryPolicyConfig
from cleanops.pipelines.schema.scheduling import Schedule
from cleanops.pipelines.schema.sources import DataSource
from cleanops.pipelines.schema.transformations import Transformation, ValidationConfig, ValidationStep, merge_validation


class PipelineSpec(Strict):
    pipeline_id: Slug
    name: str | None = None
    description: str | None = None
    version: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    status: Literal["active", "paused", "disabled", "draft"] = "active"
    schedule: Schedule = Field(default_factory=Schedule)
    data_sources: list[DataSource] = Field(min_length=1)
    transformations: list[Transformation] = Field(default_factory=list)
    destinations: list[Destination] = Field(default_factory=list)
    retry_policy: RetryPolicyConfig | None = None
    notifications: Notifications = Field(default_factory=Notifications)
    priority: Literal["critical", "high", "medium", "low"] = "medium"
    depends_on: list[Slug] = Field(default_factory=list)
    resources: Resources = Field(default_factory=Resources)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    tags: dict[str, str] = Field(default_factory=dict, description="Free-form: label → value, any names, "
                                                                    "for the people who read the file")

    @field_validator("data_sources")
    @classmethod
    def _source_ids_unique(cls, sources: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for source in sources:
            if source.id in seen:
                raise ValueError(f"source id {source.id!r} is used twice")
            seen.add(source.id)
        return sources

    @field_validator("depends_on")
    @classmethod
    def _depends_on_unique(cls, upstreams: list[str]) -> list[str]:
        if len(set(upstreams)) != len(upstreams):
            raise ValueError("depends_on lists a pipeline twice")
        return upstreams

    @model_validator(mode="after")
    def _not_its_own_upstream(self) -> "PipelineSpec":
        if self.pipeline_id in self.depends_on:
            raise ValueError("a pipeline cannot depend on itself")
        return self

    @property
    def slug(self) -> str:
        """The pipeline id as a SQL and Dagster name: `user-data-etl-001` → `user_data_etl_001`."""
        return to_identifier(self.pipeline_id)

    def validation(self) -> ValidationConfig:
        """All validation steps merged, in file order."""
        merged = ValidationConfig()
        for step in self.transformations:
            if isinstance(step, ValidationStep):
                merged = merge_validation(merged, step.config)
        return merged
