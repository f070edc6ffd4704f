"""Log records with secrets masked, whichever logger, library or handler they go through.

A step's compute log is its stdout/stderr, where records from urllib3, requests, SQLAlchemy
and Dagster's own console logger are printed; Dagster's event log stores the records of its
log manager. Rather than guess every logger and handler in play (Dagster adds its handlers
per step), `install` wraps the process's log-record factory: each record is masked once,
when it is created, before any handler or filter sees it. `RedactingFilter` does the same
for a handler that receives records built some other way.
"""

from __future__ import annotations

import logging
import threading

from cleanops.secrets import redact, remember_environment

_install_lock = threading.Lock()
_installed = False


def redact_record(record: logging.LogRecord) -> None:
    """Mask secrets in a record's message and in its formatted exception, in place."""
    try:
        message = record.getMessage()
    except Exception:  # mismatched arguments: logging reports it when the record is emitted
        return
    masked = redact(message)
    if masked != message:
        record.msg, record.args = masked, ()
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        masked = redact(text)
        if masked != text:
            # Formatters print exc_text when it is set; without exc_info no handler can re-format it unmasked.
            record.exc_text, record.exc_info = masked, None
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """Masks secrets in every record passing through the logger or handler it is added to."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install() -> None:
    """Mask secrets in every log record this process creates from now on (idempotent).

    Also remembers the secrets CleanOps' own environment variables hold, so that a process
    that never resolved them itself (a run worker, the CLI) still masks them.
    """
    global _installed
    remember_environment()
    with _install_lock:
        if _installed:
            return
        create_record = logging.getLogRecordFactory()

        def create_masked_record(*args, **kwargs) -> logging.LogRecord:
            record = create_record(*args, **kwargs)
            redact_record(record)
            return record

        logging.setLogRecordFactory(create_masked_record)
        for handler in logging.getLogger().handlers:
            handler.addFilter(RedactingFilter())
        _installed = True
