"""What a pipeline file may name: destinations only in destination schemas, sources only inside the
source roots — refused at `cleanops pipelines validate` with file and field, and again at read."""

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from cleanops.cli.main import cli
from cleanops.pipelines.loader import load_file, load_pipelines
from cleanops.pipelines.schema import FileSource
from cleanops.sources.base import SourceError
from cleanops.sources.files import resolve_files

from cleanops_tests.conftest import unique_id, write_pipeline
from cleanops_tests.ingestion.helpers import holds_no_rows, materialize_pipeline, table_names

SHIPPED = Path(__file__).resolve().parents[2] / "pipelines"


def _spec(path="data/users.csv", **extra) -> dict:
    return {"pipeline_id": unique_id("bounds"), "data_sources": [{"id": "users", "type": "csv", "path": path}],
            **extra}


def _validate(*files: Path):
    result = CliRunner().invoke(cli, ["pipelines", "validate", *map(str, files)])
    return result.exit_code, result.output


def _users_csv(folder: Path) -> Path:
    (folder / "data").mkdir(exist_ok=True)
    path = folder / "data" / "users.csv"
    path.write_text("user_id,email\n1,a@example.com\n")
    return path


# --- destinations -----------------------------------------------------------------------

@pytest.mark.parametrize("table", [
    "cleanops.quality_results", "cleanops_archive.runs", "staging.other__users", "quarantine.other__users",
    "transform.other__s01_cleansing", "pg_catalog.pg_class", "PG_TOAST.x", "information_schema.tables",
])
def test_destination_in_cleanops_schema_is_refused_at_validate(pipelines_dir, table):
    file = write_pipeline(pipelines_dir, _spec(destinations=[{"connection": "warehouse", "table": table}]))
    exit_code, output = _validate(file)
    assert exit_code == 1
    assert f"{file.resolve()}: destinations[0].table: schema {table.split('.')[0]!r}" in output


def test_destination_outside_destination_schemas_is_refused_unless_an_administrator_allows_it(
        pipelines_dir, monkeypatch):
    file = write_pipeline(pipelines_dir, _spec(destinations=[{"connection": "w", "table": "reporting.users"}]))
    exit_code, output = _validate(file)
    assert exit_code == 1 and "destinations[0].table: schema 'reporting' is not a destination schema" in output
    monkeypatch.setenv("CLEANOPS_DESTINATION_SCHEMAS", "reporting, staging")
    _users_csv(pipelines_dir)
    assert _validate(file)[0] == 0
    staging = write_pipeline(pipelines_dir, _spec(destinations=[{"connection": "w", "table": "staging.users"}]))
    assert _validate(staging)[0] == 1, "a reserved schema stays refused even when listed"


def test_two_pipelines_claiming_one_destination_are_an_error_on_the_later_file(pipelines_dir):
    _users_csv(pipelines_dir)
    first = _spec(destinations=[{"connection": "w", "table": "orders"}])
    second = _spec(destinations=[{"connection": "w", "table": "marts.ORDERS"}])
    write_pipeline(pipelines_dir, {**first, "pipeline_id": "a-first"})
    later = write_pipeline(pipelines_dir, {**second, "pipeline_id": "b-second"})
    result = load_pipelines()
    assert [p.spec.pipeline_id for p in result.pipelines] == ["a-first"]
    assert [(e.file, e.field) for e in result.errors] == [(later.resolve(), "destinations[0].table")]
    assert "marts.orders is already the destination" in result.errors[0].message

    from cleanops.definitions import build_definitions

    assert build_definitions().resolve_job_def("a_first") is not None


def test_two_pipelines_claiming_one_staging_table_are_an_error_not_a_code_location_crash(pipelines_dir):
    _users_csv(pipelines_dir)
    write_pipeline(pipelines_dir, {"pipeline_id": "a", "data_sources": [
        {"id": "b__c", "type": "csv", "path": "data/users.csv"}]})
    later = write_pipeline(pipelines_dir, {"pipeline_id": "a__b", "data_sources": [
        {"id": "c", "type": "csv", "path": "data/users.csv"}]})
    exit_code, output = _validate()
    assert exit_code == 1
    assert f"{later.resolve()}: data_sources[0].id: staging table 'a__b__c' already belongs to" in output

    from cleanops.definitions import build_definitions

    assert build_definitions().resolve_job_def("a") is not None


def test_two_sources_of_one_pipeline_becoming_one_staging_table_are_refused(pipelines_dir):
    _users_csv(pipelines_dir)
    file = write_pipeline(pipelines_dir, {"pipeline_id": unique_id("twin"), "data_sources": [
        {"id": "a-b", "type": "csv", "path": "data/users.csv"}, {"id": "a_b", "type": "csv", "path": "data/users.csv"}]})
    _, errors = load_file(file)
    assert [e.field for e in errors] == ["data_sources[1].id"]


# --- source files -----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/etc/passwd", "../../../../../../../../etc/passwd", "data/../../outside.csv",
                                  "/etc/*", "data/*/../../../etc/passwd", "~/.bashrc"])
def test_source_path_outside_roots_is_refused_at_validate_and_at_read(pipelines_dir, path):
    _users_csv(pipelines_dir)
    (pipelines_dir.parent / "outside.csv").write_text("user_id\n1\n")
    file = write_pipeline(pipelines_dir, _spec(path))
    exit_code, output = _validate(file)
    assert exit_code == 1
    assert f"{file.resolve()}: data_sources[0].path: {path!r}" in output

    if "*" not in path or ".." not in path:
        with pytest.raises(SourceError, match="outside the source roots"):
            resolve_files(FileSource(id="users", type="csv", path=path), pipelines_dir)


def test_symlink_out_of_roots_is_refused(pipelines_dir):
    (pipelines_dir / "passwd.csv").symlink_to("/etc/passwd")
    file = write_pipeline(pipelines_dir, _spec("passwd.csv"))
    exit_code, output = _validate(file)
    assert exit_code == 1 and "data_sources[0].path: 'passwd.csv' resolves to /etc/passwd" in output

    (pipelines_dir / "linked").symlink_to("/etc")
    assert _validate(write_pipeline(pipelines_dir, _spec("linked/*")))[0] == 1

    _users_csv(pipelines_dir)
    (pipelines_dir / "data" / "sneaky.csv").symlink_to("/etc/passwd")
    with pytest.raises(SourceError, match=r"source 'users': refused, outside the source roots .*sneaky.csv -> /etc/passwd"):
        resolve_files(FileSource(id="users", type="csv", path="data/*.csv"), pipelines_dir)


def test_symlink_swapped_out_after_validation_is_refused_at_read_and_stages_nothing(
        pipelines_dir, make_pipeline, warehouse, tmp_path):
    real = _users_csv(pipelines_dir)
    loaded = make_pipeline(_spec("data/users.csv"))
    outside = tmp_path / "outside.csv"
    outside.write_text("user_id,email\n1,a@example.com\n2,b@example.com\n")
    real.unlink()
    real.symlink_to(outside)
    result = materialize_pipeline(loaded, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "outside the source roots" in failure.step_failure_data.error.to_string()
    staging, quarantine = table_names(loaded)
    assert holds_no_rows(warehouse, staging, quarantine)


def test_source_roots_setting_lets_an_administrator_allow_a_folder(pipelines_dir, tmp_path, monkeypatch):
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "users.csv").write_text("user_id\n1\n")
    file = write_pipeline(pipelines_dir, _spec(str(exports / "*.csv")))
    assert _validate(file)[0] == 1
    monkeypatch.setenv("CLEANOPS_SOURCE_ROOTS", os.pathsep.join(["/nonexistent", str(exports)]))
    assert _validate(file)[0] == 0
    assert resolve_files(FileSource(id="users", type="csv", path=str(exports / "*.csv")), pipelines_dir) == [
        exports / "users.csv"]


def test_landing_folder_is_a_source_root_and_a_trigger_outside_the_roots_is_refused(pipelines_dir, tmp_path):
    landing = write_pipeline(pipelines_dir, _spec("${CLEANOPS_HOME}/landing/users/*.csv", schedule={
        "type": "event", "triggers": [{"type": "file_arrival", "path": "${CLEANOPS_HOME}/landing/users"}]}))
    assert _validate(landing)[0] == 0
    outside = write_pipeline(pipelines_dir, _spec("data/*.csv", schedule={
        "type": "event", "triggers": [{"type": "file_arrival", "path": str(tmp_path / "elsewhere")}]}))
    exit_code, output = _validate(outside)
    assert exit_code == 1 and "schedule.triggers[0].path" in output


def test_shipped_pipelines_stay_inside_the_boundaries():
    exit_code, output = _validate(*sorted(p for p in SHIPPED.iterdir() if p.suffix in (".json", ".yaml")))
    assert exit_code == 0, output
