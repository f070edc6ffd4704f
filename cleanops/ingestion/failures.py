"""How a failed load leaves its asset: one `dg.Failure`, masked, retried only when worth it.

Dagster stores a step's exception, message and chained causes, in its event log
(STEP_FAILURE, STEP_UP_FOR_RETRY) and prints them to the compute log; the original
exception may quote a secret (a URL with a token, a driver's message). So the asset never
lets it out: it raises a new `dg.Failure` whose description is the masked message, `from
None` so no chained traceback travels with it. `allow_retries` carries the source's
verdict (`cleanops.sources.errors`): the pipeline's `retry_policy` acts on transient
failures only, and a permanent one fails the run at once with its own message.
"""

from __future__ import annotations

import traceback

import dagster as dg

from cleanops.secrets import redact
from cleanops.sources.base import SourceError
from cleanops.sources.errors import TransientSourceError


def is_retryable(error: BaseException) -> bool:
    """Transient source failures and unexpected errors (a warehouse hiccup) may pass on a retry."""
    return isinstance(error, TransientSourceError) or not isinstance(error, SourceError)


def failure_message(error: BaseException) -> str:
    """The error as CleanOps writes it anywhere: masked, and with its class when it is not ours."""
    text = str(error) if isinstance(error, SourceError) else f"{type(error).__name__}: {error}"
    return redact(text)


def load_failure(pipeline_id: str, source_id: str, error: BaseException) -> dg.Failure:
    """The `dg.Failure` an ingestion asset raises (`from None`) for `error`."""
    retryable = is_retryable(error)
    metadata: dict[str, dg.MetadataValue] = {
        "error_class": dg.MetadataValue.text(type(error).__name__),
        "retryable": dg.MetadataValue.bool(retryable),
    }
    if not isinstance(error, SourceError):  # a bug or a warehouse error: where it happened matters
        metadata["traceback"] = dg.MetadataValue.text(redact("".join(traceback.format_exception(error))))
    verdict = "transient" if retryable else "permanent, not retried"
    message = failure_message(error)
    if not message.startswith(f"source {source_id!r}"):
        message = f"source {source_id!r}: {message}"
    return dg.Failure(description=f"{pipeline_id} ({verdict}): {message}", metadata=metadata,
                      allow_retries=retryable)
