"""The secret registry: what is remembered, and that `redact` masks every spelling of it."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cleanops import log_redaction, secrets


def fresh_secret() -> str:
    """Random, so the process-wide registry never masks text another test relies on."""
    return f"Sk{uuid.uuid4().hex}/+= &"


def test_every_spelling_of_a_remembered_value_is_masked():
    token = fresh_secret()
    secrets.remember(token)
    text = f"raw {token}; query ?api_key={quote_plus(token)}; path /{quote(token, safe='')}/x"
    masked = secrets.redact(text)
    assert masked == "raw ***; query ?api_key=***; path /***/x"


def test_short_values_are_not_masked():
    secrets.remember("on")
    assert secrets.redact("one option") == "one option"


def test_env_references_are_resolved_and_remembered(monkeypatch):
    token = fresh_secret()
    monkeypatch.setenv("CLEANOPS_TEST_REFERENCE", token)
    assert secrets.resolve_references("Bearer ${CLEANOPS_TEST_REFERENCE}", "header") == f"Bearer {token}"
    assert secrets.redact(f"sent Bearer {token}") == "sent Bearer ***"
    monkeypatch.delenv("CLEANOPS_TEST_REFERENCE")
    with pytest.raises(secrets.MissingVariable, match="header: environment variable CLEANOPS_TEST_REFERENCE"):
        secrets.resolve_references("${CLEANOPS_TEST_REFERENCE}", "header")


def test_connection_passwords_and_keys_in_the_environment_are_remembered(monkeypatch):
    password, key, broken = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    monkeypatch.setenv("CLEANOPS_CONN_SOMEWHERE", f"postgresql://me:{password}@db.example/x")
    monkeypatch.setenv("CLEANOPS_HMAC_KEY", key)
    monkeypatch.setenv("CLEANOPS_CONN_BROKEN", f"not a url {broken}")
    secrets.remember_environment()
    assert secrets.redact(f"{password} {key} (not a url {broken})") == "*** *** (***)"


def test_log_records_of_any_logger_are_masked(caplog):
    token = fresh_secret()
    secrets.remember(token)
    log_redaction.install()
    with caplog.at_level(logging.WARNING):
        logging.getLogger("urllib3.connectionpool").warning("Retrying %s", f"/users?api_key={quote_plus(token)}")
        try:
            raise ValueError(f"bad {token}")
        except ValueError:
            logging.getLogger("some.library").exception("failed")
    output = caplog.text
    assert "/users?api_key=***" in output and "ValueError: bad ***" in output
    assert token[:34] not in output


@given(prefix=st.text(max_size=20), suffix=st.text(max_size=20),
       secret=st.text(min_size=secrets.MIN_SECRET_LENGTH, max_size=30))
def test_properties_a_remembered_value_never_survives_redaction(prefix, suffix, secret):
    registry = secrets.SecretRegistry()  # its own: arbitrary values must not mask the session's messages
    registry.remember(secret)
    masked = registry.redact(prefix + secret + suffix)
    for spelling in secrets.spellings(secret):
        assert spelling not in masked
