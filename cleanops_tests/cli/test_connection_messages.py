"""A connection URL the user got wrong is named, with what is wrong and never its password."""

import pytest

from cleanops.sources.base import SourceError
from cleanops.sources.sql import connection_url


def test_malformed_port_names_the_connection(monkeypatch):
    monkeypatch.setenv("CLEANOPS_CONN_PROD_USER_DB", "postgresql://etl:s3cret@db.example.com:54x2/users")
    with pytest.raises(SourceError) as raised:
        connection_url("prod-user-db")
    message = str(raised.value)
    assert "'prod-user-db'" in message and "CLEANOPS_CONN_PROD_USER_DB" in message and "port" in message
    assert "s3cret" not in message


def test_unparseable_url_names_the_connection(monkeypatch):
    monkeypatch.setenv("CLEANOPS_CONN_WAREHOUSE", "not a url with s3cret")
    with pytest.raises(SourceError, match="'warehouse'") as raised:
        connection_url("warehouse")
    assert "s3cret" not in str(raised.value)
