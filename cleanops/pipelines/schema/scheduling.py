"""`schedule`: when a pipeline runs, on a cron expression or on events (files, new rows, a request)."""

from __future__ import annotations

from typing import Annotated, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import Field, field_validator, model_validator

from cleanops.pipelines.schema.base import Slug, Strict

MIN_SENSOR_INTERVAL_SECONDS = 5


class FileArrivalTrigger(Strict):
    """Run once per file that lands in a folder; the file moves to `processed/` after its load."""

    type: Literal["file_arrival"]
    path: str | None = Field(None, description="Folder to watch, relative to the pipeline file; ${VAR} is expanded. "
                                               "Default: the folder of the file source's glob")
    pattern: str | None = Field(None, description="Glob of file names, e.g. *.csv. Default: the source glob's name")
    source: Slug | None = Field(None, description="The file source that loads the file. Default: the first one")
    interval_seconds: int = Field(30, ge=MIN_SENSOR_INTERVAL_SECONDS)
    move_to_processed: bool = True
    max_files_per_run: int = Field(20, ge=1, le=1000, description="Files seen in one sensor tick share a run, "
                                   "up to this many (a run costs seconds of overhead; 1 = a run per file)")


class NewRowsTrigger(Strict):
    """Run when a watermark query (one value, e.g. `SELECT max(updated_at) FROM users`) changes."""

    type: Literal["new_rows"]
    connection: Slug
    watermark_query: str = Field(min_length=1)
    interval_seconds: int = Field(60, ge=MIN_SENSOR_INTERVAL_SECONDS)


class ExternalTrigger(Strict):
    """Run only when asked: `cleanops trigger PIPELINE_ID` or Dagster's GraphQL API."""

    type: Literal["external"]


Trigger = Annotated[Union[FileArrivalTrigger, NewRowsTrigger, ExternalTrigger], Field(discriminator="type")]


class Schedule(Strict):
    """When a pipeline runs. `cron` → a Dagster schedule; `event` → one sensor per trigger."""

    type: Literal["cron", "event", "manual"] = "manual"
    expression: str | None = None
    timezone: str = "UTC"
    enabled: bool = True
    triggers: list[Trigger] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, timezone: str) -> str:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {timezone!r} (use an IANA name such as Europe/Berlin)") from error
        return timezone

    @model_validator(mode="after")
    def _type_has_what_it_needs(self) -> "Schedule":
        if self.type == "cron":
            if not self.expression:
                raise ValueError("a cron schedule needs an expression, e.g. '0 2 * * *'")
            if not is_valid_cron(self.expression):
                raise ValueError(f"{self.expression!r} is not a valid cron expression")
        if self.type == "event" and not self.triggers:
            raise ValueError("an event schedule needs at least one trigger (file_arrival, new_rows or external)")
        return self


def is_valid_cron(expression: str) -> bool:
    """A standard five-field cron expression that can fire (not seconds-resolution, not 30 February)."""
    if not croniter.is_valid(expression):
        return False
    expanded, *_ = croniter.expand(expression)
    if len(expanded) != 5:
        return False
    days, months = expanded[2], expanded[3]
    return not (months == [2] and len(days) == 1 and days[0] in (30, 31))
