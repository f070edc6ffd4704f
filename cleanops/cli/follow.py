"""Following a Dagster run from the CLI: what a person wants to see while it runs.

The run executes in its own process; this one reads the run's events from the instance
as they are written and turns them into a progress display: the current step, rows read,
staged and rejected so far (from the load's progress lines, see
cleanops.ingestion.progress), checks passed and failed, and why a step failed. With
`verbose` every event is printed as well, in Dagster's own words.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import dagster as dg

from cleanops.cli.progress import PlainProgress, RichProgress
from cleanops.ingestion.progress import LoadProgress, parse_progress
from cleanops.scheduling.launch import run_events

STAGING_STEP_PREFIX = "staging__"
QUALITY_STEP_PREFIX = "ge_"  # Great Expectations checks of a table (cleanops.quality)


@dataclass
class RunProgress:
    """What the run has reported so far."""

    step: str = "starting"
    loads: dict[str, LoadProgress] = field(default_factory=dict)
    checks_passed: int = 0
    checks_failed: int = 0

    def counters(self) -> dict[str, int]:
        counters = {}
        if self.loads:
            counters = {"read": sum(p.records_read for p in self.loads.values()),
                        "staged": sum(p.records_staged for p in self.loads.values()),
                        "rejected": sum(p.records_rejected for p in self.loads.values())}
        if self.checks_passed or self.checks_failed:
            counters.update({"checks passed": self.checks_passed, "checks failed": self.checks_failed})
        return counters


def step_title(step_key: str) -> str:
    """Step keys in a person's words: `loading staging.t`, `checking staging.t`, `dbt models`."""
    if step_key.startswith(STAGING_STEP_PREFIX):
        return f"loading staging.{step_key.removeprefix(STAGING_STEP_PREFIX)}"
    if step_key.startswith(QUALITY_STEP_PREFIX + STAGING_STEP_PREFIX):
        return f"checking staging.{step_key.removeprefix(QUALITY_STEP_PREFIX + STAGING_STEP_PREFIX)}"
    if "dbt" in step_key:
        return f"dbt models ({step_key})"
    return step_key


def format_event(entry: dg.EventLogEntry) -> str:
    """One line of the full event log, as Dagster's own logger writes it."""
    stamp = dt.datetime.fromtimestamp(entry.timestamp).strftime("%H:%M:%S.%f")[:-3]
    event_type = entry.dagster_event.event_type.name if entry.dagster_event else "LOG"  # RUN_SUCCESS, not its stored value PIPELINE_SUCCESS
    message = entry.user_message or entry.message
    return f"{stamp} {logging.getLevelName(entry.level):<7} {entry.step_key or '-'} {event_type} - {message}"


def _failure_message(event: dg.DagsterEvent) -> str | None:
    data = event.event_specific_data
    error = getattr(data, "error", None)
    if error is None:
        return event.message
    cause = error.cause.message.strip() if error.cause else ""
    return error.message.strip() + (f" (caused by {cause})" if cause else "")


def apply_event(state: RunProgress, entry: dg.EventLogEntry, display: RichProgress | PlainProgress) -> None:
    """Update the state and the display for one event; print what must stay on screen."""
    event = entry.dagster_event
    if event is None:
        progress = parse_progress(entry.user_message)
        if progress is not None:
            state.loads[progress.table] = progress
    elif event.event_type == dg.DagsterEventType.RUN_ENQUEUED:
        state.step = "queued (the daemon starts it within its limits)"
    elif event.event_type == dg.DagsterEventType.STEP_START:
        state.step = step_title(entry.step_key)
    elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
        display.print(f"done    {step_title(entry.step_key)}")
    elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
        display.print(f"failed  {step_title(entry.step_key)}: {_failure_message(event)}")
    elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
        if event.event_specific_data.passed:
            state.checks_passed += 1
        else:
            state.checks_failed += 1
    elif event.event_type == dg.DagsterEventType.RUN_FAILURE:
        display.print(f"run failed: {_failure_message(event)}")
    display.update(state.step, **state.counters())


def follow_run(instance: dg.DagsterInstance, run_id: str, display: RichProgress | PlainProgress,
               verbose: bool = False, start_timeout_seconds: float | None = None) -> dg.DagsterRun | None:
    """Show the run's progress until it ends; returns the finished run."""
    state = RunProgress()
    for entry in run_events(instance, run_id, start_timeout_seconds=start_timeout_seconds):
        if verbose:
            display.print(format_event(entry))
        apply_event(state, entry, display)
    return instance.get_run_by_id(run_id)
