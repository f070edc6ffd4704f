"""Roots, retention days and kinds: refused with a message naming the option, at set time and at load time.

Deny-listed roots are only ever validated or dry-run here, never cleaned.
"""

from __future__ import annotations

import json
import os

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cleanops.cleanup import audit, policies, roots, service
from cleanops.cleanup.models import CleanupOptions, PolicyError
from cleanops.cli.main import cli
from cleanops_tests.cleanup.helpers import file_policy, make_file, options
from cleanops_tests.conftest import unique_id


def _invoke(*args):
    return CliRunner().invoke(cli, ["cleanup", *args], catch_exceptions=False)


def _stored(warehouse, data_type: str) -> tuple:
    policies.seed(warehouse)
    with warehouse.connect() as conn:
        return tuple(conn.execute(sa.text("SELECT retention_days, kind, roots FROM cleanops.cleanup_policies "
                                          "WHERE data_type = :d"), {"d": data_type}).one())


# -- roots ---------------------------------------------------------------------------------

def test_double_slash_root_is_refused(warehouse):
    before = _stored(warehouse, "temp_files")
    result = _invoke("policy", "set", "temp_files", "--root", "//")
    assert result.exit_code == 1
    assert "--root" in result.output and "file system root" in result.output
    assert _stored(warehouse, "temp_files") == before


@pytest.mark.parametrize("root", [
    "/", "//", "///", "/./", "/.", "//./", "/etc", "/etc/", "//etc//", "/etc/ssl", "/usr", "/usr/./local/",
    "/bin", "/sbin", "/lib", "/lib64", "/boot", "/proc", "/proc/self/cwd", "/sys", "/dev", "/dev/shm",
    "/var/lib", "/var/lib/postgresql", "/var", "/root", "~", "~/", "relative/folder", ".", "",
    "{home}", "{home}/", "{home}/pgdata", "{home}/dagster/storage", "{home}/../other", "{unknown}/x",
    "{home.__class__}", "{home!r}/x", "{home:>99}", "{", "/tmp/\x00x",
])
def test_denied_root_spellings_are_refused_even_when_the_allow_list_allows_everything(root, monkeypatch):
    monkeypatch.setenv("CLEANOPS_CLEANUP_ROOTS", "/")
    with pytest.raises(PolicyError) as refused:
        roots.check_root(root, "temp_files")
    assert refused.value.field == "roots" and "refused" in str(refused.value)


def test_project_folder_and_cleanops_home_as_a_whole_are_refused(monkeypatch):
    from cleanops import settings

    monkeypatch.setenv("CLEANOPS_CLEANUP_ROOTS", "/")
    for root in (str(settings.PROJECT_ROOT), str(settings.paths().home), os.path.dirname(settings.PROJECT_ROOT)):
        with pytest.raises(PolicyError, match="refused"):
            roots.check_root(root)


def test_root_that_is_a_symlink_to_a_denied_place_is_refused(tmp_path):
    os.symlink("/etc", tmp_path / "etc_link")
    os.symlink("/", tmp_path / "slash_link")
    with pytest.raises(PolicyError, match="resolves to /etc"):
        roots.check_root(str(tmp_path / "etc_link"))
    with pytest.raises(PolicyError, match="resolves to /etc"):
        roots.check_root(str(tmp_path / "slash_link" / "etc"))
    with pytest.raises(PolicyError, match="file system root"):
        roots.check_root(str(tmp_path / "slash_link"))


def test_root_outside_the_allow_list_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CLEANOPS_CLEANUP_ROOTS", str(tmp_path / "allowed"))
    assert roots.check_root(str(tmp_path / "allowed" / "inner")) == str(tmp_path / "allowed" / "inner")
    with pytest.raises(PolicyError, match="CLEANOPS_CLEANUP_ROOTS"):
        roots.check_root(str(tmp_path / "not_allowed"))
    monkeypatch.delenv("CLEANOPS_CLEANUP_ROOTS")
    with pytest.raises(PolicyError, match="outside the allowed cleanup folders"):
        roots.check_root(str(tmp_path / "allowed" / "inner"))


def test_relative_allow_list_entry_is_refused_naming_the_setting(monkeypatch):
    monkeypatch.setenv("CLEANOPS_CLEANUP_ROOTS", "relative/folder")
    with pytest.raises(PolicyError, match="CLEANOPS_CLEANUP_ROOTS entry 'relative/folder' is not an absolute"):
        roots.check_root("{temp}")


def test_default_policies_are_inside_cleanops_own_folders(monkeypatch):
    monkeypatch.delenv("CLEANOPS_CLEANUP_ROOTS")
    for policy in policies.default_policies():
        for root in policy.roots:
            assert roots.check_root(root).startswith(str(roots.settings.paths().home)) or "{dbt}" in root


def test_bad_root_stored_in_the_database_is_refused_at_cleanup_time(warehouse, tmp_path):
    make_file(tmp_path / "bad" / "old.log")
    make_file(tmp_path / "good" / "old.log")
    bad = file_policy(warehouse, tmp_path / "bad")
    good = file_policy(warehouse, tmp_path / "good")
    with warehouse.begin() as conn:  # an operator editing the table by hand
        conn.execute(sa.text("UPDATE cleanops.cleanup_policies SET roots = '[\"//\"]' WHERE data_type = :d"),
                     {"d": bad})
    result = service.run_cleanup(warehouse, CleanupOptions(dry_run=False, data_types=[bad, good]))
    assert result.status == "completed_with_errors"
    assert [r["data_type"] for r in result.refused] == [bad]
    assert "file system root" in result.refused[0]["reason"]
    assert result.found == {good: 1} and result.totals.files_removed == 1
    assert (tmp_path / "bad" / "old.log").exists() and not (tmp_path / "good" / "old.log").exists()
    refusals = [a for a in audit.actions_of(warehouse, result.cleanup_id) if a["action"] == "policy_refused"]
    assert [(a["data_type"], a["status"]) for a in refusals] == [(bad, "failed")]


def test_dry_run_of_a_denied_root_is_refused_before_scanning(warehouse, tmp_path):
    data_type = file_policy(warehouse, tmp_path)
    with warehouse.begin() as conn:
        conn.execute(sa.text("UPDATE cleanops.cleanup_policies SET roots = '[\"/usr/../etc\", \"//\"]' "
                             "WHERE data_type = :d"), {"d": data_type})
    result = _invoke("--dry-run", "--data-type", data_type, "--json")
    assert result.exit_code == 1
    listing = json.loads(result.output)
    assert listing["candidate_count"] == 0 and listing["found_by_data_type"] == {}
    assert [r["data_type"] for r in listing["refused_policies"]] == [data_type]
    text = _invoke("--dry-run", "--data-type", data_type)
    assert f"policy {data_type} refused" in text.output


# -- retention days --------------------------------------------------------------------------

@pytest.mark.parametrize("days", ["inf", "-inf", "nan", "1e308", "3.5", "-1", "36501", "1e3x", "", "0x10"])
def test_non_finite_retention_days_are_refused(warehouse, days):
    before = _stored(warehouse, "temp_files")
    result = _invoke("policy", "set", "temp_files", "--retention-days", days)
    assert result.exit_code == 2
    assert "--retention-days" in result.output
    assert _stored(warehouse, "temp_files") == before


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 1e308, 3.5, -1, 36_501, True, "7", None])
def test_retention_days_must_be_a_whole_number_in_range(value):
    with pytest.raises(PolicyError) as refused:
        policies.retention_days(value)
    assert refused.value.field == "retention_days"


def test_whole_retention_days_are_accepted():
    assert policies.retention_days(0) == 0 and policies.retention_days(36_500.0) == 36_500
    assert _invoke("policy", "set", "temp_files", "--retention-days", "1").exit_code == 0


@pytest.mark.parametrize("stored", ["1e308", "'NaN'", "'Infinity'", "3.5", "36501"])
def test_out_of_range_retention_stored_in_the_database_is_refused_at_cleanup_time(warehouse, tmp_path, stored):
    make_file(tmp_path / "root" / "old.log")
    data_type = file_policy(warehouse, tmp_path / "root")
    with warehouse.begin() as conn:
        conn.execute(sa.text(f"UPDATE cleanops.cleanup_policies SET retention_days = {stored} WHERE data_type = :d"),
                     {"d": data_type})
    result = service.run_cleanup(warehouse, options(data_type))  # no OverflowError
    assert result.status == "completed_with_errors"
    assert "retention days" in result.refused[0]["reason"]
    assert (tmp_path / "root" / "old.log").exists()
    config = _invoke("--config", "--json")
    assert config.exit_code == 0


# -- kinds -----------------------------------------------------------------------------------

def test_kind_must_match_data_type(warehouse, tmp_path):
    before = _stored(warehouse, "temp_files")
    result = _invoke("policy", "set", "temp_files", "--kind", "runs")
    assert result.exit_code == 1
    assert "--kind" in result.output and "'files'" in result.output
    assert _stored(warehouse, "temp_files") == before
    custom = unique_id("kinds").replace("-", "_")
    assert _invoke("policy", "set", custom, "--kind", "files", "--retention-days", "3",
                   "--root", str(tmp_path)).exit_code == 0
    to_runs = _invoke("policy", "set", custom, "--kind", "runs")
    assert to_runs.exit_code == 1 and "--kind" in to_runs.output and "takes no roots" in to_runs.output
    no_root = _invoke("policy", "set", unique_id("kinds").replace("-", "_"), "--kind", "files",
                      "--retention-days", "3")
    assert no_root.exit_code == 1 and "--root" in no_root.output
    statuses = _invoke("policy", "set", custom, "--status", "FAILURE")
    assert statuses.exit_code == 1 and "--status" in statuses.output


def test_kind_changed_in_the_database_is_refused_at_cleanup_time(warehouse):
    with warehouse.begin() as conn:
        kind = conn.scalar(sa.text("SELECT kind FROM cleanops.cleanup_policies WHERE data_type = 'temp_files'"))
        conn.execute(sa.text("UPDATE cleanops.cleanup_policies SET kind = 'runs' WHERE data_type = 'temp_files'"))
    try:
        result = service.run_cleanup(warehouse, options("temp_files", dry_run=True))
        assert result.status == "completed_with_errors" and "kind" in result.refused[0]["reason"]
        assert result.found == {}
    finally:
        with warehouse.begin() as conn:
            conn.execute(sa.text("UPDATE cleanops.cleanup_policies SET kind = :k WHERE data_type = 'temp_files'"),
                         {"k": kind})
