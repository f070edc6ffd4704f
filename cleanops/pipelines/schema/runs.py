"""How a pipeline's runs behave: retries, resource limits and who is told about them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cleanops.pipelines.schema.base import Slug, Strict


class RetryPolicyConfig(Strict):
    max_retries: int = Field(3, ge=0, le=20)
    backoff_strategy: Literal["exponential", "linear", "fixed"] = "exponential"
    initial_delay: float = Field(60, ge=0)


class Resources(Strict):
    """Per-pipeline limits, enforced by the queued run coordinator (see docs/scheduling.md)."""

    max_concurrent: int | None = Field(None, ge=1, le=8, description="Runs of this pipeline at the same time")
    memory_mb: int | None = Field(None, ge=16, description="Memory budget of a run; sets SQL chunk sizes")
    pool: Slug | None = Field(None, description="Dagster pool of the pipeline's steps; default: one per destination")


class Notifications(Strict):
    """Who hears about runs. The seed format's block, validated but not yet acted on: CleanOps
    reports runs through Dagster's UI and run-status sensors, and sends no messages itself."""

    on_failure: list[str] = Field(default_factory=list, description="Recipients told when a run fails")
    on_success: list[str] = Field(default_factory=list, description="Recipients told when a run succeeds")
    channels: list[str] = Field(default_factory=list, description="Channels to use, e.g. email, slack")
