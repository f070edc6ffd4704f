"""Secrets: the values CleanOps must never write anywhere, and `redact` to mask them.

Secrets reach CleanOps only through the environment: `${VAR}` references in pipeline files,
the passwords of `CLEANOPS_CONN_*` and database URLs, `CLEANOPS_HMAC_KEY`. Each value is
remembered when it is read, and `redact` masks it in any text before that text is logged,
stored or raised. Masking one registry at the few places text leaves CleanOps (log records,
exceptions out of an asset, the execution log) also covers what libraries such as urllib3,
requests or SQLAlchemy put into their own messages, which no single call site controls.

A value is masked in every spelling it can take in such text: as is and percent-encoded
(a token sent as a query parameter shows up encoded in a URL).
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

from sqlalchemy.engine import make_url

from cleanops import settings

MASK = "***"
# Shorter values (a flag, a page size) are not secrets worth the name, and masking them
# would garble ordinary words and numbers in every message.
MIN_SECRET_LENGTH = 4

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_URL_VARIABLES = ("CLEANOPS_DATABASE_URL", "CLEANOPS_INSTANCE_DATABASE_URL", "CLEANOPS_INSTANCE_URL",
                  "CLEANOPS_WAREHOUSE_URL")
_PLAIN_VARIABLES = ("CLEANOPS_HMAC_KEY", "CLEANOPS_PG_PASSWORD")
CONNECTION_PREFIX = settings.CONNECTION_PREFIX


class MissingVariable(LookupError):
    """A `${VAR}` reference names a variable the environment does not have."""


def spellings(value: str) -> set[str]:
    """The forms a value takes in messages: raw and as the URL encoders write it."""
    return {value, quote(value, safe=""), quote(value), quote_plus(value)}


class SecretRegistry:
    """Values to mask, and the one pattern that finds any of their spellings."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def remember(self, value: str | None) -> None:
        if not value or len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            new = spellings(value) - self._secrets
            if not new:
                return
            self._secrets.update(new)
            ordered = sorted(self._secrets, key=len, reverse=True)  # a longer spelling before its own prefix
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        while True:  # a mask next to a secret's remainder can spell a secret again ("a" + "***")
            masked = pattern.sub(MASK, text)
            if masked == text:
                return text
            text = masked


_registry = SecretRegistry()


def remember(value: str | None) -> None:
    """Add a value to the secrets `redact` masks (from now on, in this process)."""
    _registry.remember(value)


def redact(text: str) -> str:
    """`text` with every remembered secret replaced by `***`."""
    return _registry.redact(text)


def resolve_references(value: Any, where: str) -> Any:
    """Replace `${VAR}` in a string with the variable's value, remembered as a secret.

    `where` names the setting in the error raised for a variable that is not set.
    """
    if not isinstance(value, str):
        return value

    def lookup(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise MissingVariable(f"{where}: environment variable {name} is not set")
        remember(os.environ[name])
        return os.environ[name]

    return _ENV_REFERENCE.sub(lookup, value)


def url_password(raw_url: str) -> str | None:
    """The password in a database URL; the whole value when it does not parse as a URL."""
    try:
        return make_url(raw_url).password
    except Exception:  # a malformed URL may still hold a password somewhere
        return raw_url


def remember_environment() -> None:
    """Remember the secrets CleanOps' own variables hold: connection and database passwords, keys."""
    for name, value in settings.own_variables().items():
        if name.startswith(CONNECTION_PREFIX) or name in _URL_VARIABLES:
            remember(url_password(value))
        elif name in _PLAIN_VARIABLES:
            remember(value)
