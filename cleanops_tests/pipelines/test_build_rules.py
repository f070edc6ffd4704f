"""`cleanops pipelines validate` applies every rule the build applies; a pipeline that cannot be built is
reported and left out, and the code location still loads the others."""

from click.testing import CliRunner

from cleanops.cli.main import cli
from cleanops.pipelines.loader import load_pipelines

from cleanops_tests.conftest import write_pipeline

GOOD = {"pipeline_id": "good-one", "data_sources": [{"id": "users", "type": "csv", "path": "data/users.csv"}]}


def _validate():
    result = CliRunner().invoke(cli, ["pipelines", "validate"])
    return result.exit_code, result.output


def test_overlong_ids_are_refused_at_validate_and_do_not_break_the_code_location(pipelines_dir):
    write_pipeline(pipelines_dir, GOOD)
    long_id = "a-pipeline-id-of-forty-seven-characters-exactly"
    assert len(long_id) == 47
    overlong = write_pipeline(pipelines_dir, {"pipeline_id": long_id, "data_sources": [
        {"id": "source-of-18-chars", "type": "csv", "path": "data/users.csv"}]})
    exit_code, output = _validate()
    assert exit_code == 1
    assert f"{overlong.resolve()}: data_sources[0].id: staging table name" in output
    assert "longer than PostgreSQL's 63 characters" in output
    assert "ok" in output and "good-one" in output

    from cleanops.definitions import build_definitions

    defs = build_definitions()
    assert defs.resolve_job_def("good_one") is not None
    assert {job.name for job in defs.resolve_all_job_defs()} >= {"good_one"}


def test_pipelines_whose_dbt_models_would_share_a_name_are_an_error_on_the_later_file(pipelines_dir):
    """`a` → `a__b__c` and `a__b` → `a__b__c`: distinct tables, one dbt model name (dbt would refuse
    the whole project)."""
    write_pipeline(pipelines_dir, {**GOOD, "pipeline_id": "a", "destinations": [{"connection": "w", "table": "b__c"}]})
    later = write_pipeline(pipelines_dir, {"pipeline_id": "a__b", "data_sources": [
        {"id": "other", "type": "csv", "path": "data/users.csv"}], "destinations": [{"connection": "w", "table": "c"}]})
    assert len(load_pipelines().pipelines) == 2, "the loader alone cannot see this clash"
    exit_code, output = _validate()
    assert exit_code == 1
    assert f"{later.resolve()}: pipeline_id: dbt model a__b__c is already built by the pipeline in" in output

    from cleanops.definitions import build_definitions

    assert build_definitions().resolve_job_def("a") is not None


def test_file_arrival_trigger_naming_a_sql_source_is_refused_at_validate(pipelines_dir):
    file = write_pipeline(pipelines_dir, {**GOOD, "data_sources": [
        *GOOD["data_sources"], {"id": "db", "type": "sqlite", "connection": "src", "query": "SELECT 1"}],
        "schedule": {"type": "event", "triggers": [{"type": "file_arrival", "source": "db"}]}})
    exit_code, output = _validate()
    assert exit_code == 1
    assert f"{file.resolve()}: schedule.triggers[0].source: 'db' is not a file source" in output
