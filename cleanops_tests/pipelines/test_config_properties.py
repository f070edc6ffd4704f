"""Property-based tests of the config path: whatever a pipeline file holds, loading never raises (it
returns errors naming the file and a field), and whatever loads also builds."""

import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from cleanops.components.build import build_checked
from cleanops.pipelines.loader import PipelineError, load_files

BASE = {
    "pipeline_id": "prop-base",
    "schedule": {"type": "event", "triggers": [{"type": "file_arrival", "path": "landing", "pattern": "*.csv"}]},
    "data_sources": [
        {"id": "users", "type": "csv", "path": "data/users*.csv"},
        {"id": "db", "type": "postgresql", "connection": "src", "query": "SELECT * FROM t WHERE x > ?",
         "parameters": ["${last_run_timestamp}"]},
    ],
    "transformations": [
        {"type": "validation", "config": {"required_fields": ["user_id"], "data_types": {"user_id": "integer"}}},
        {"type": "cleansing", "config": {"trim": ["email"], "dedupe": {"key": ["user_id"]}}},
        {"type": "aggregation", "config": {"group_by": ["country"], "measures": {"users": {"function": "count"}}}},
    ],
    "destinations": [{"connection": "warehouse", "table": "users_by_country"}],
    "quality": [{"type": "not_null", "column": "user_id"}],
}

# Places a mutation may land: fields the schema knows, plus the document's own structure.
FIELDS = [
    ("pipeline_id",), ("status",), ("priority",), ("depends_on",), ("tags",), ("schedule",), ("schedule", "type"),
    ("schedule", "triggers", 0, "path"), ("schedule", "triggers", 0, "source"), ("data_sources", 0, "id"),
    ("data_sources", 0, "path"), ("data_sources", 0, "type"), ("data_sources", 1, "id"),
    ("data_sources", 1, "parameters"), ("data_sources", 1, "query"), ("transformations", 1, "config", "trim"),
    ("transformations", 2, "config", "group_by"), ("destinations", 0, "table"), ("destinations", 0),
    ("destinations",), ("quality",), ("data_sources",), ("retry_policy",), ("resources",),
]

HOSTILE_NAMES = ["users; DROP TABLE x", "a" * 64, "x" * 47, "é", "Ωmega", "pg_catalog.pg_class",
                 "cleanops.quality_results", "staging.prop_base__users", "transform.x", "information_schema.tables",
                 "marts.users_by_country", "a__b", "a--b", "_x", "0", "", " ", "\x00", "\u202e", "s01_cleansing"]
HOSTILE_PATHS = ["/etc/passwd", "../../../../etc/passwd", "data/../../x.csv", "data/*/../../../etc/*", "~/x",
                 "${HOME}/x", "${CLEANOPS_HOME}/landing/x/*.csv", "**/*.csv", "/", ".", "data/\u00e9*.csv", "\x00",
                 "landing/../../..", "a" * 5000]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
                    st.sampled_from(HOSTILE_NAMES), st.sampled_from(HOSTILE_PATHS), st.text(min_size=3000, max_size=3000))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(HOSTILE_NAMES)),
                                                 inner, max_size=3)), max_leaves=6)
mutations = st.lists(st.tuples(st.sampled_from(FIELDS), values), max_size=4)


def _apply(document: dict, path: tuple, value) -> None:
    node = document
    for step in path[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict) or (isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node)):
        node[path[-1]] = value


def _yaml_extras(text: str, extra: str, document: dict) -> str:
    if extra == "duplicate":
        return text + "pipeline_id: again\n"
    if extra == "alias_bomb":
        return (text + "bomb0: &b0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
                + "".join(f"bomb{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]\n" for i in range(1, 6)))
    if extra == "small_alias" and "tags" not in document:
        return text + "tags: {a: &small x, b: *small}\n"
    return text


def _load_and_build(document: dict, fmt: str, extra: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"pipeline.{fmt}"
        if fmt == "json":
            text = json.dumps(document, allow_nan=True)
        else:
            text = _yaml_extras(yaml.safe_dump(document, allow_unicode=True), extra, document)
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        result = load_files([path])
        for error in result.errors:
            assert isinstance(error, PipelineError) and error.file == path.resolve() and error.message
        checked = build_checked(result)
        assert checked.result.errors == result.errors, [str(e) for e in checked.result.errors]
        assert len(checked.result.pipelines) == len(result.pipelines)
        return result


@given(mutations, st.sampled_from(["json", "yaml"]), st.sampled_from(["", "duplicate", "alias_bomb", "small_alias"]))
def test_properties_any_pipeline_document_loads_without_raising_and_what_loads_builds(changes, fmt, extra):
    document = json.loads(json.dumps(BASE))
    for path, value in changes:
        _apply(document, path, value)
    result = _load_and_build(document, fmt, extra)
    event(f"pipelines loaded and built: {len(result.pipelines)}")
    if extra in ("duplicate", "alias_bomb") and fmt == "yaml":
        assert result.pipelines == []


@given(st.text(max_size=200))
def test_properties_arbitrary_text_never_raises(text):
    with tempfile.TemporaryDirectory() as folder:
        for suffix in ("json", "yaml"):
            path = Path(folder) / f"p.{suffix}"
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
            result = load_files([path])
            assert all(e.file == path.resolve() for e in result.errors)


def test_unmutated_base_document_loads_and_builds():
    """The property test's base is a valid pipeline, so mutations explore around a working file."""
    result = _load_and_build(json.loads(json.dumps(BASE)), "yaml", "small_alias")
    assert [p.spec.pipeline_id for p in result.pipelines] == ["prop-base"], [str(e) for e in result.errors]


# Values shaped like the real thing, so most documents load and the build rules get exercised.
slugs = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,62}\Z")
identifiers = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
schemas = st.one_of(identifiers, st.sampled_from(["marts", "cleanops", "staging", "pg_catalog", "Transform",
                                                  "information_schema", "reporting", "MARTS"]))
tables = st.one_of(identifiers, st.builds(lambda s, t: f"{s}.{t}", schemas, identifiers))
path_parts = st.sampled_from(["data", "..", "*", "**", "landing", "x.csv", "*.csv", ".", "~", "${CLEANOPS_HOME}",
                              "${HOME}", "etc", "é", "a b"])
paths = st.one_of(st.builds(lambda parts, absolute: ("/" if absolute else "") + "/".join(parts),
                            st.lists(path_parts, min_size=1, max_size=5), st.booleans()),
                  st.sampled_from(HOSTILE_PATHS))


@st.composite
def shaped_pipelines(draw) -> dict:
    sources = [{"id": draw(slugs), "type": "csv", "path": draw(paths)} for _ in range(draw(st.integers(1, 3)))]
    document = {"pipeline_id": draw(slugs), "data_sources": sources,
                "destinations": [{"connection": "w", "table": draw(tables)} for _ in range(draw(st.integers(0, 2)))]}
    if draw(st.booleans()):
        document["transformations"] = [{"type": "cleansing", "config": {"trim": ["email"]}}]
    if draw(st.booleans()):
        document["schedule"] = {"type": "event", "triggers": [
            {"type": "file_arrival", "path": draw(paths), "source": draw(st.sampled_from([s["id"] for s in sources]))}]}
    return document


@given(st.lists(shaped_pipelines(), min_size=1, max_size=3))
def test_properties_shaped_pipelines_that_load_also_build_together(documents):
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for index, document in enumerate(documents):
            path = Path(folder) / f"p{index}.yaml"
            path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
            files.append(path)
        result = load_files(files)
        for error in result.errors:
            assert error.file in {f.resolve() for f in files} and error.message
        checked = build_checked(result)
        assert checked.result.errors == result.errors, [str(e) for e in checked.result.errors]
        event(f"pipelines loaded and built: {len(result.pipelines)} of {len(files)}")
        for pipeline in result.pipelines:
            for destination in pipeline.spec.destinations:
                assert destination.table.rpartition(".")[0] in ("", "marts")
