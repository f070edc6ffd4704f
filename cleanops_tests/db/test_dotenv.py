"""The `.env` that `cleanops db start` writes for Dagster's commands."""

import subprocess
import sys
from urllib.parse import quote, quote_plus

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from cleanops.db.connection import DatabaseTarget, export_environment
from cleanops.db.dotenv import BEGIN, write_dotenv


def _target(url: str) -> DatabaseTarget:
    return DatabaseTarget(make_url(url), "wh", "wh_dagster", embedded=False)


def _read_as_dagster_does(folder, env: dict[str, str]) -> dict[str, str]:
    """Dagster reads `.env` with python-dotenv's dotenv_values (dagster._core.secrets.env_file)."""
    code = ("import json, sys; from dotenv import dotenv_values; "
            "print(json.dumps(dotenv_values(sys.argv[1] + '/.env')))")
    out = subprocess.run([sys.executable, "-c", code, str(folder)], env=env, capture_output=True, text=True,
                         check=True).stdout
    import json
    return json.loads(out)


def test_the_file_gives_the_instance_url_unless_the_environment_sets_one(tmp_path):
    target = _target("postgresql+psycopg://postgres@/postgres?host=/tmp/sock&port=5432")
    write_dotenv(target, tmp_path)
    expected = export_environment(target)
    assert _read_as_dagster_does(tmp_path, {"PATH": "/usr/bin"})["CLEANOPS_INSTANCE_URL"] == \
        expected["CLEANOPS_INSTANCE_URL"]
    chosen = _read_as_dagster_does(tmp_path, {"PATH": "/usr/bin", "CLEANOPS_INSTANCE_URL": "postgresql://other/x"})
    assert chosen["CLEANOPS_INSTANCE_URL"] == "postgresql://other/x"


def test_a_password_is_never_written(tmp_path):
    write_dotenv(_target("postgresql://alice:s3cr3t-pw@db.example:5433/wh"), tmp_path)
    text = (tmp_path / ".env").read_text()
    assert "s3cr3t-pw" not in text
    assert "CLEANOPS_INSTANCE_URL: not written" in text
    assert 'CLEANOPS_PG_HOST="${CLEANOPS_PG_HOST:-db.example}"' in text


def test_a_users_own_lines_are_kept_and_the_block_is_replaced_not_repeated(tmp_path):
    (tmp_path / ".env").write_text("CLEANOPS_CONN_CRM=postgresql://crm/x\n# mine\n")
    write_dotenv(_target("postgresql://postgres@h1/wh"), tmp_path)
    write_dotenv(_target("postgresql://postgres@h2/wh"), tmp_path)
    text = (tmp_path / ".env").read_text()
    assert text.startswith("CLEANOPS_CONN_CRM=postgresql://crm/x\n# mine\n")
    assert text.count(BEGIN) == 1 and "h2" in text and "h1" not in text


def _read_back(folder) -> dict[str, str]:
    from dotenv import dotenv_values

    return {key: value for key, value in dotenv_values(folder / ".env").items() if value is not None}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(folder_name=st.text(min_size=1, max_size=40).filter(lambda t: "\x00" not in t and "/" not in t
                                                          and "Z" not in t and t not in (".", "..")),
       password=st.one_of(st.just(""), st.text(max_size=20).filter(lambda t: "\x00" not in t).map(lambda t: "Zq9" + t)))
def test_properties_any_home_and_password_read_back_exactly_or_are_left_out(tmp_path, monkeypatch, folder_name,
                                                                            password):
    """Whatever the home folder's name and the password hold: writing never raises, a line that
    is written reads back (as Dagster reads it, environment unset) to exactly the exported value,
    and the password is never in the file."""
    home = tmp_path / folder_name
    monkeypatch.setenv("CLEANOPS_HOME", str(home))
    for name in ("CLEANOPS_INSTANCE_URL", "CLEANOPS_WAREHOUSE_URL", "CLEANOPS_PG_HOST", "DAGSTER_HOME",
                 "CLEANOPS_DAGSTER_STORAGE", "CLEANOPS_COMPUTE_LOGS", "CLEANOPS_PG_PORT", "CLEANOPS_PG_USER",
                 "CLEANOPS_PG_PASSWORD", "CLEANOPS_PG_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    target = DatabaseTarget(make_url("postgresql://alice@db.example:5433/wh").set(password=password or None),
                            "wh", "wh_dagster", embedded=False)
    write_dotenv(target, tmp_path)
    text = (tmp_path / ".env").read_text()
    if password:
        for form in (password, quote(password, safe=""), quote_plus(password)):
            assert form not in text
    expected = export_environment(target)
    for name, value in _read_back(tmp_path).items():
        assert value == expected[name], name


def test_a_password_that_urls_escape_is_left_out_in_every_spelling(tmp_path):
    """A URL carries `p@ss:w/rd` as `p%40ss%3Aw%2Frd`: the escaped spelling is a leak as well."""
    password = "p@ss:w/rd"
    write_dotenv(DatabaseTarget(make_url("postgresql://alice@db.example/wh").set(password=password),
                                "wh", "wh_dagster", embedded=False), tmp_path)
    text = (tmp_path / ".env").read_text()
    assert all(form not in text for form in (password, quote(password, safe=""), "p%40ss"))
    assert "CLEANOPS_WAREHOUSE_URL: not written" in text
