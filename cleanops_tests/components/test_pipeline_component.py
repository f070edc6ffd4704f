"""`cleanops.Pipeline` in a defs.yaml: the same definitions as the same pipeline in a file of the
pipelines folder; `dg check yaml` names a misspelt key's file and line; `dg scaffold defs` writes a
valid example."""

import pytest
import yaml

from cleanops_tests.components.dg_cli import cleanops_project, dg, make_project, summary
from cleanops_tests.conftest import write_pipeline

SOURCE = {"id": "rows", "type": "csv", "path": "data/*.csv"}
UP = {"pipeline_id": "up", "data_sources": [SOURCE]}
SCHEDULED = {"pipeline_id": "scheduled", "description": "cron, checks", "priority": "high",
             "schedule": {"type": "cron", "expression": "30 5 * * 1-5", "timezone": "Europe/Berlin"},
             "data_sources": [SOURCE, {**SOURCE, "id": "other"}],
             "transformations": [{"step": 1, "type": "validation",
                                  "config": {"required_fields": ["id"], "unique": ["id"]}}]}
DOWNSTREAM = {"pipeline_id": "downstream", "depends_on": ["up"], "data_sources": [{**SOURCE, "id": "more"}]}


def _declare(defs: "Path", name: str, attributes: dict) -> "Path":  # noqa: F821
    folder = defs / name
    folder.mkdir()
    path = folder / "defs.yaml"
    path.write_text(yaml.safe_dump({"type": "cleanops.Pipeline", "attributes": attributes}, sort_keys=False))
    return path


def test_a_declared_pipeline_builds_what_the_same_pipeline_file_builds(tmp_path, pipelines_dir):
    for spec in (UP, SCHEDULED, DOWNSTREAM):
        write_pipeline(pipelines_dir, spec)
    defs = make_project(tmp_path / "project")
    _declare(defs, "scheduled", SCHEDULED)
    _declare(defs, "downstream", DOWNSTREAM)
    groups = {"scheduled", "downstream"}

    from_files = cleanops_project("list", "defs", "--json", tmp_path=tmp_path, pipelines_dir=pipelines_dir)
    assert from_files.returncode == 0, from_files.output
    declared = dg(["list", "defs", "--json"], tmp_path / "project", tmp_path, pipelines_dir, tmp_path / "project")
    assert declared.returncode == 0, declared.output

    files, components = (summary(r.json(), groups) for r in (from_files, declared))
    assert components == files
    assert components["assets"] == {"staging/scheduled__rows": (), "staging/scheduled__other": (),
                                    "staging/downstream__more": ("staging/up__rows",)}
    assert components["schedules"] == {("scheduled__schedule", "30 5 * * 1-5")}
    assert components["sensors"] == {"downstream__dependencies"}
    assert {"staging/scheduled__rows:required_id", "staging/scheduled__rows:unique_id"} <= components["asset_checks"]


def _line_of(path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize("attributes, key", [
    ({"pipeline_id": "top", "data_sourcs": [SOURCE]}, "data_sourcs"),
    ({"pipeline_id": "inner", "data_sources": [{"id": "rows", "type": "csv", "pathh": "data/*.csv"}]}, "pathh"),
    ({"pipeline_id": "step", "data_sources": [SOURCE], "transformations": [
        {"step": 1, "type": "validation", "config": {"required_fieldz": ["id"]}}]}, "required_fieldz"),
])
def test_dg_check_yaml_names_file_line_and_misspelt_key(tmp_path, attributes, key):
    defs = make_project(tmp_path / "project")
    declared = _declare(defs, attributes["pipeline_id"], attributes)

    checked = dg(["check", "yaml"], tmp_path / "project", tmp_path, pythonpath=tmp_path / "project")
    assert checked.returncode != 0
    assert f"{declared}:{_line_of(declared, key)}" in checked.output
    assert f"'{key}' was unexpected" in checked.output


def test_scaffolded_pipeline_is_a_valid_example(tmp_path):
    project = tmp_path / "project"
    make_project(project)
    scaffolded = dg(["scaffold", "defs", "cleanops.Pipeline", "my_pipeline"], project, tmp_path, pythonpath=project)
    assert scaffolded.returncode == 0, scaffolded.output
    written = project / "pipeline_project" / "defs" / "my_pipeline" / "defs.yaml"
    assert "type: cleanops.Pipeline" in written.read_text()
    assert "#" in written.read_text(), "the example explains its fields"

    for command in (["check", "yaml"], ["check", "defs"]):
        checked = dg(command, project, tmp_path, pythonpath=project)
        assert checked.returncode == 0, checked.output
    listed = dg(["list", "defs", "--json"], project, tmp_path, pythonpath=project)
    found = summary(listed.json())
    assert found["assets"] == {"staging/my_pipeline__export": ()}
    assert found["jobs"] == {"my_pipeline"}
