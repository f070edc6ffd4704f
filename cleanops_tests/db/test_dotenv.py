"""The `.env` that `cleanops db start` writes for Dagster's commands."""

import subprocess
import sys

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
