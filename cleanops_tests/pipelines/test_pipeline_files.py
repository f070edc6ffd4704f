"""Pipeline files: the seed loads as written; bad files name the file and the field."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cleanops.cli.main import cli
from cleanops.pipelines.loader import load_file, load_pipelines

SEED = Path(__file__).resolve().parents[2] / "pipelines" / "user_data_etl.json"
SHARED_SEED = Path(__file__).resolve().parents[3] / "shared" / "samples" / "pipeline_config.json"


def test_seed_sample_loads_unmodified():
    loaded, errors = load_file(SEED)
    assert errors == []
    spec = loaded.spec
    assert spec.pipeline_id == "user-data-etl-001"
    assert spec.data_sources[0].parameters == ["${last_run_timestamp}"]
    assert spec.validation().required_fields == ["user_id", "email"]
    assert spec.retry_policy.backoff_strategy == "exponential"


@pytest.mark.skipif(not SHARED_SEED.exists(), reason=f"the seed's original is not beside this clone ({SHARED_SEED})")
def test_shipped_copy_is_the_seed_byte_for_byte():
    assert SEED.read_bytes() == SHARED_SEED.read_bytes()


def _broken_copy(tmp_path, mutate) -> Path:
    document = json.loads(SEED.read_text())
    mutate(document)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(document))
    return path


def test_wrong_field_type_names_file_and_field(tmp_path):
    path = _broken_copy(tmp_path, lambda d: d["retry_policy"].update(max_retries="many"))
    _, errors = load_file(path)
    assert [str(e.file) for e in errors] == [str(path.resolve())]
    assert errors[0].field == "retry_policy.max_retries"


def test_sql_injection_in_table_name_is_refused(tmp_path):
    path = _broken_copy(tmp_path, lambda d: d["destinations"][0].update(table="users; DROP TABLE users"))
    _, errors = load_file(path)
    assert len(errors) == 1 and errors[0].field == "destinations[0].table"


def test_injection_in_validation_field_name_is_refused(tmp_path):
    def mutate(d):
        d["transformations"][0]["config"]["required_fields"].append('email"); DROP TABLE x; --')
    _, errors = load_file(_broken_copy(tmp_path, mutate))
    assert errors and errors[0].field.startswith("transformations[0].config.required_fields")


def test_unknown_source_type_is_an_error(tmp_path):
    path = _broken_copy(tmp_path, lambda d: d["data_sources"][0].update(type="oracle"))
    _, errors = load_file(path)
    assert errors and errors[0].field.startswith("data_sources[0]")
    assert "oracle" in errors[0].message or "tag" in errors[0].message


def test_placeholder_count_must_match_parameters(tmp_path):
    path = _broken_copy(tmp_path, lambda d: d["data_sources"][0].update(parameters=[]))
    _, errors = load_file(path)
    assert errors and "placeholder" in errors[0].message


def test_typo_in_a_rule_is_an_error_not_a_silent_no_op(tmp_path):
    path = _broken_copy(tmp_path, lambda d: d["transformations"][0]["config"].update(requierd_fields=["x"]))
    _, errors = load_file(path)
    assert errors and "requierd_fields" in errors[0].field


def test_bad_file_does_not_stop_other_pipelines(pipelines_dir):
    shutil.copy(SEED, pipelines_dir / "good.json")
    (pipelines_dir / "bad.yaml").write_text("pipeline_id: [unclosed\n")
    result = load_pipelines()
    assert [p.spec.pipeline_id for p in result.pipelines] == ["user-data-etl-001"]
    assert len(result.errors) == 1 and result.errors[0].file.name == "bad.yaml"

    from cleanops.components.build import build_all

    defs = build_all(result)
    assert defs.resolve_job_def("user_data_etl_001") is not None


def test_cli_validate_exit_codes(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(cli, ["pipelines", "validate", str(SEED)])
    assert ok.exit_code == 0, ok.output
    broken = _broken_copy(tmp_path, lambda d: d.update(pipeline_id="bad id!"))
    bad = runner.invoke(cli, ["pipelines", "validate", str(SEED), str(broken)])
    assert bad.exit_code == 1
    assert f"{broken.resolve()}: pipeline_id" in bad.output


def test_yaml_and_json_are_equivalent(tmp_path):
    import yaml

    document = json.loads(SEED.read_text())
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(document))
    loaded, errors = load_file(tmp_path / "p.yaml")
    assert not errors and loaded.spec == load_file(SEED)[0].spec
