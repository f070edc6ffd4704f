"""How a pipeline's runs behave: retries, resource limits and who is told about them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

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


def _recipient(value: str) -> str:
    from cleanops.pipelines.recipients import check_recipient

    return check_recipient(value)


def _channel(value: str) -> str:
    from cleanops.pipelines.recipients import check_channel

    return check_channel(value)


Recipient = Annotated[str, AfterValidator(_recipient)]
Channel = Annotated[str, AfterValidator(_channel)]


class Notifications(Strict):
    """Who hears about alerts (docs/monitoring.md, "Notifications"): the monitoring sensor
    tells `on_failure` when an alert opens and `on_success` when a later success resolves it.

    A recipient is an e-mail address or an apprise URL (`json://`, `slack://`, ...; may use
    `${VAR}` for tokens); `channels`, when given, limits the messages to those channels, and
    each recipient must belong to one of them.
    """

    on_failure: list[Recipient] = Field(default_factory=list, description="Recipients told when an alert opens")
    on_success: list[Recipient] = Field(default_factory=list,
                                        description="Recipients told when a success resolves an alert")
    channels: list[Channel] = Field(default_factory=list, description="Channels to use, e.g. email, webhook, slack")

    @model_validator(mode="after")
    def _recipients_in_channels(self) -> Notifications:
        from cleanops.pipelines.recipients import channel_of, resolve

        if not self.channels:
            return self
        for field in ("on_failure", "on_success"):
            for index, recipient in enumerate(getattr(self, field)):
                channel = channel_of(resolve(recipient))
                if channel not in self.channels:
                    raise ValueError(f"{field}[{index}] is a {channel} recipient but channels lists only "
                                     + ", ".join(self.channels))
        return self
