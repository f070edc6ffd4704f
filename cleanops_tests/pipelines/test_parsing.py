"""Pipeline-file parsing: duplicate keys are errors naming line and key; alias bombs are refused at load."""

import time

from cleanops.pipelines.loader import load_file

BASE_YAML = """\
pipeline_id: parse-check
data_sources:
  - id: users
    type: csv
    path: data/users.csv
destinations:
  - connection: warehouse
    table: users
"""


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_duplicate_key_is_an_error_naming_line_and_key(tmp_path):
    path = _write(tmp_path, "dup.yaml", BASE_YAML + "    table: pg_catalog.pg_class\n")
    loaded, errors = load_file(path)
    assert loaded is None
    assert [(e.file, e.field) for e in errors] == [(path.resolve(), "table")]
    assert errors[0].message == "line 9: key 'table' appears twice in one mapping (first on line 8)"


def test_yaml_duplicate_top_level_key_is_an_error(tmp_path):
    path = _write(tmp_path, "dup.yaml", BASE_YAML + "pipeline_id: other\n")
    _, errors = load_file(path)
    assert [e.field for e in errors] == ["pipeline_id"] and "line 9" in errors[0].message


def test_json_duplicate_key_is_an_error_naming_line_and_key(tmp_path):
    text = ('{"pipeline_id": "parse-check",\n "data_sources": [{"id": "users", "type": "csv", "path": "a.csv"}],\n'
            ' "destinations": [{"connection": "w", "table": "users",\n   "table": "cleanops.quality_results"}]}\n')
    path = _write(tmp_path, "dup.json", text)
    loaded, errors = load_file(path)
    assert loaded is None
    assert [(e.file, e.field) for e in errors] == [(path.resolve(), "table")]
    assert "line 4: key 'table' appears twice" in errors[0].message


def test_yaml_alias_bomb_is_refused_at_load(tmp_path):
    """One SQL parameter whose nine nested layers of aliases stand for 10^9 values: it used to pass
    validation and burn CPU when a run walked it."""
    layers = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    layers += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = ("pipeline_id: bomb\ndata_sources:\n  - id: db\n    type: postgresql\n    connection: src\n"
            "    query: SELECT ?\n    parameters:\n      - " + "\n        ".join(layers) + "\n")
    path = _write(tmp_path, "bomb.yaml", text)
    started = time.perf_counter()
    loaded, errors = load_file(path)
    assert time.perf_counter() - started < 1
    assert loaded is None
    assert "aliases expand to more than 10000 values" in errors[0].message


def test_yaml_alias_bomb_in_sql_parameters_is_refused(tmp_path):
    text = ("bomb: &b0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
            + "".join(f"bomb{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]\n" for i in range(1, 7))
            + "pipeline_id: bomb\ndata_sources:\n  - id: db\n    type: postgresql\n    connection: src\n"
              "    query: SELECT ?\n    parameters: [*b6]\n")
    loaded, errors = load_file(_write(tmp_path, "bomb.yaml", text))
    assert loaded is None and "aliases expand" in errors[0].message and "line " in errors[0].message


def test_recursive_alias_is_refused(tmp_path):
    path = _write(tmp_path, "loop.yaml", BASE_YAML + "tags: &t {a: *t}\n")
    loaded, errors = load_file(path)
    assert loaded is None and "refers to a node that contains it" in errors[0].message


def test_small_aliases_and_merge_keys_still_load(tmp_path):
    text = ("pipeline_id: anchors\ntags: &src {type: csv, path: data/users.csv}\n"
            "data_sources:\n  - <<: *src\n    id: users\n    path: data/other.csv\n")
    loaded, errors = load_file(_write(tmp_path, "anchors.yaml", text))
    assert errors == []
    assert loaded.spec.data_sources[0].path == "data/other.csv" and loaded.spec.data_sources[0].type == "csv"


def test_scalar_yaml_cannot_build_is_an_error_naming_the_file(tmp_path):
    path = _write(tmp_path, "date.yaml", BASE_YAML + "created_at: 2023-02-30\n")
    loaded, errors = load_file(path)
    assert loaded is None and errors[0].file == path.resolve() and "not valid YAML" in errors[0].message


def test_oversized_file_is_refused_without_parsing(tmp_path):
    path = _write(tmp_path, "big.yaml", BASE_YAML + "description: " + "x" * (5 << 20) + "\n")
    loaded, errors = load_file(path)
    assert loaded is None and "larger than 4 MiB" in errors[0].message
