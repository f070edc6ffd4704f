"""Every block of a pipeline file refuses keys it does not know, naming the file, the key and its line."""

import json
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import BaseModel

from cleanops.pipelines import schema
from cleanops.pipelines.loader import load_file, load_pipelines

SHIPPED = Path(__file__).resolve().parents[2] / "pipelines"
SHARED_SEED = Path(__file__).resolve().parents[3] / "shared" / "samples" / "pipeline_config.json"

# A valid pipeline that holds every block the schema knows, each with its keys written out.
FULL = {
    "pipeline_id": "every-block",
    "name": "Every block",
    "description": "One of each",
    "version": "1.0.0",
    "status": "active",
    "priority": "high",
    "tags": {"team": "data"},
    "schedule": {"type": "event", "timezone": "UTC", "enabled": True, "triggers": [
        {"type": "file_arrival", "path": "landing", "pattern": "*.csv", "source": "users", "interval_seconds": 30,
         "move_to_processed": True, "max_files_per_run": 5},
        {"type": "new_rows", "connection": "src", "watermark_query": "SELECT max(id) FROM t", "interval_seconds": 60},
        {"type": "external"},
    ]},
    "data_sources": [
        {"id": "users", "type": "csv", "path": "data/users*.csv", "delimiter": ";", "encoding": "utf-8"},
        {"id": "docs", "type": "json", "path": "data/docs.json", "records_path": "items"},
        {"id": "lines", "type": "jsonl", "path": "data/lines.jsonl"},
        {"id": "columns", "type": "parquet", "path": "data/columns.parquet"},
        {"id": "db", "type": "postgresql", "connection": "src", "query": "SELECT * FROM t WHERE x > ?",
         "parameters": ["${last_run_timestamp}"], "chunk_size": 1000},
        {"id": "shop", "type": "mysql", "connection": "shop", "query": "SELECT 1"},
        {"id": "local", "type": "sqlite", "connection": "local", "query": "SELECT 1"},
        {"id": "feed", "type": "api", "url": "https://example.com/items", "method": "GET",
         "params": {"since": "2024-01-01"}, "headers": {"Authorization": "Bearer ${TOKEN}"}, "records_path": "data",
         "timeout_seconds": 10, "max_retries": 2,
         "pagination": {"type": "page", "page_param": "page", "size_param": "per_page", "page_size": 50}},
    ],
    "transformations": [
        {"step": 1, "type": "validation", "config": {
            "required_fields": ["user_id"], "data_types": {"user_id": "integer"}, "patterns": {"email": ".+@.+"},
            "ranges": {"age": {"min": 0, "max": 150}}, "allowed_values": {"country": ["DE"]}, "unique": ["user_id"]}},
        {"step": 2, "type": "anonymization", "config": {"fields": {"email": {"method": "mask", "keep_start": 1}}}},
        {"step": 3, "type": "cleansing", "config": {
            "trim": ["name"], "null_if_empty": ["name"], "case": {"name": "title"},
            "dates": {"born": {"to": "date", "format": "YYYY-MM-DD"}},
            "dedupe": {"key": ["user_id"], "order_by": "_cleanops_load_id", "keep": "latest"}}},
        {"step": 4, "type": "enrichment", "config": {
            "joins": [{"source": "docs", "on": {"user_id": "user_id"}, "columns": {"doc": "title"}, "how": "left"}],
            "derived": {"age_days": "age * 365"}}},
        {"step": 5, "type": "aggregation", "config": {
            "group_by": ["country"], "measures": {"users": {"function": "count_distinct", "column": "user_id"}}}},
    ],
    "destinations": [{"type": "data_warehouse", "connection": "warehouse", "table": "users_by_country"}],
    "retry_policy": {"max_retries": 2, "backoff_strategy": "linear", "initial_delay": 5},
    "notifications": {"on_failure": ["ops@example.com"], "on_success": [], "channels": ["email"]},
    "depends_on": ["upstream-pipeline"],
    "resources": {"max_concurrent": 2, "memory_mb": 256, "pool": "warehouse"},
    "quality": {"validation_rules": "warn", "rules": [
        {"name": "users_present", "type": "row_count", "table": "staging", "severity": "warn", "min": 1, "mostly": 1}]},
}

# Each mapping of FULL that a model validates: (where it sits, its model).
BLOCKS = [
    ((), schema.PipelineSpec),
    (("schedule",), schema.Schedule),
    (("schedule", "triggers", 0), schema.FileArrivalTrigger),
    (("schedule", "triggers", 1), schema.NewRowsTrigger),
    (("schedule", "triggers", 2), schema.ExternalTrigger),
    (("data_sources", 0), schema.FileSource),
    (("data_sources", 1), schema.FileSource),
    (("data_sources", 2), schema.FileSource),
    (("data_sources", 3), schema.FileSource),
    (("data_sources", 4), schema.SqlSource),
    (("data_sources", 5), schema.SqlSource),
    (("data_sources", 6), schema.SqlSource),
    (("data_sources", 7), schema.ApiSource),
    (("data_sources", 7, "pagination"), schema.Pagination),
    (("transformations", 0), schema.ValidationStep),
    (("transformations", 0, "config"), schema.ValidationConfig),
    (("transformations", 0, "config", "ranges", "age"), schema.Range),
    (("transformations", 1), schema.AnonymizationStep),
    (("transformations", 1, "config"), schema.AnonymizationConfig),
    (("transformations", 1, "config", "fields", "email"), schema.FieldAnonymization),
    (("transformations", 2), schema.CleansingStep),
    (("transformations", 2, "config"), schema.CleansingConfig),
    (("transformations", 2, "config", "dates", "born"), schema.DateNormalisation),
    (("transformations", 2, "config", "dedupe"), schema.DedupeConfig),
    (("transformations", 3), schema.EnrichmentStep),
    (("transformations", 3, "config"), schema.EnrichmentConfig),
    (("transformations", 3, "config", "joins", 0), schema.Join),
    (("transformations", 4), schema.AggregationStep),
    (("transformations", 4, "config"), schema.AggregationConfig),
    (("transformations", 4, "config", "measures", "users"), schema.Measure),
    (("destinations", 0), schema.Destination),
    (("retry_policy",), schema.RetryPolicyConfig),
    (("notifications",), schema.Notifications),
    (("resources",), schema.Resources),
    (("quality",), schema.QualityConfig),
    (("quality", "rules", 0), schema.QualityRule),
]


def _copy() -> dict:
    return json.loads(json.dumps(FULL))


def _node(document: dict, where: tuple) -> dict:
    for step in where:
        document = document[step]
    return document


def _field(where: tuple, key: str) -> str:
    text = ""
    for step in (*where, key):
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def _write(tmp_path: Path, document: dict, fmt: str) -> Path:
    path = tmp_path / f"pipeline.{fmt}"
    text = json.dumps(document, indent=2) if fmt == "json" else yaml.safe_dump(document, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def _lines_of(path: Path, key: str) -> list[int]:
    """The lines that hold `key` as a key, found in the written text."""
    quoted = re.escape(json.dumps(key))
    pattern = re.compile(rf"^\s*(?:- )?(?:{quoted}|'{re.escape(key)}'|{re.escape(key)})\s*:")
    return [n for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.match(line)]


def _line_of(path: Path, key: str) -> int:
    """The line of a key that occurs once in the file."""
    lines = _lines_of(path, key)
    assert len(lines) == 1, (key, lines)
    return lines[0]


def _assert_refused(path: Path, where: tuple, key: str) -> None:
    loaded, errors = load_file(path)
    assert loaded is None
    named = [e for e in errors if e.field == _field(where, key)]
    assert named, [str(e) for e in errors]
    text = str(named[0])
    assert text.startswith(f"{path.resolve()}: ")
    assert f"unknown key {key!r} on line {_line_of(path, key)}" in text, text


def test_full_document_loads_so_each_refusal_is_the_typo_alone(tmp_path):
    loaded, errors = load_file(_write(tmp_path, _copy(), "yaml"))
    assert errors == [] and loaded.spec.pipeline_id == "every-block"


def test_every_model_of_the_schema_forbids_unknown_keys():
    seen, models = set(), [schema.PipelineSpec]
    while models:
        model = models.pop()
        if model in seen:
            continue
        seen.add(model)
        assert model.model_config.get("extra") == "forbid", model.__name__
        for field in model.model_fields.values():
            models += [m for m in _models_in(field.annotation) if m not in seen]
    assert {block for _, block in BLOCKS} <= seen and len(seen) >= 30


def _models_in(annotation) -> list[type[BaseModel]]:
    from typing import get_args

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


TYPOS = {
    (): "descripton", ("schedule",): "enabeld", ("schedule", "triggers", 0): "intervall_seconds",
    ("schedule", "triggers", 1): "watermark", ("schedule", "triggers", 2): "pipeline",
    ("data_sources", 0): "delimter", ("data_sources", 1): "record_path", ("data_sources", 2): "encodng",
    ("data_sources", 3): "colums", ("data_sources", 4): "parameter", ("data_sources", 5): "chunksize",
    ("data_sources", 6): "querry", ("data_sources", 7): "header", ("data_sources", 7, "pagination"): "page_sise",
    ("transformations", 0): "cofig", ("transformations", 0, "config"): "required_field",
    ("transformations", 0, "config", "ranges", "age"): "maximum", ("transformations", 1): "stpe",
    ("transformations", 1, "config"): "field", ("transformations", 1, "config", "fields", "email"): "keep_star",
    ("transformations", 2): "configs", ("transformations", 2, "config"): "trimm",
    ("transformations", 2, "config", "dates", "born"): "fromat", ("transformations", 2, "config", "dedupe"): "keys",
    ("transformations", 3): "Config", ("transformations", 3, "config"): "join",
    ("transformations", 3, "config", "joins", 0): "hw", ("transformations", 4): "steps",
    ("transformations", 4, "config"): "groupby", ("transformations", 4, "config", "measures", "users"): "col",
    ("destinations", 0): "tabel", ("retry_policy",): "max_retry", ("notifications",): "on_failur",
    ("resources",): "max_concurent", ("quality",): "validation_rule", ("quality", "rules", 0): "colum",
}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("where", [where for where, _ in BLOCKS], ids=lambda w: _field(w[:-1], str(w[-1])) if w else "top")
def test_a_typo_in_any_block_is_refused_naming_file_key_and_line(tmp_path, where, fmt):
    document = _copy()
    key = TYPOS[where]
    _node(document, where)[key] = True
    _assert_refused(_write(tmp_path, document, fmt), where, key)


def test_the_seed_block_keys_load_and_a_typo_in_them_does_not(tmp_path):
    seed = json.loads((SHIPPED / "user_data_etl.json").read_text())
    seed["schedule"]["enabeld"] = seed["schedule"].pop("enabled")
    path = _write(tmp_path, seed, "json")
    _assert_refused(path, ("schedule",), "enabeld")
    assert "did you mean 'enabled'?" in str(load_file(path)[1][0])


def test_a_tagged_block_without_its_type_names_the_misspelt_key(tmp_path):
    document = _copy()
    document["data_sources"][0]["typ"] = document["data_sources"][0].pop("type")
    path = _write(tmp_path, document, "yaml")
    _, errors = load_file(path)
    assert [e.field for e in errors] == ["data_sources[0]"]
    assert f"unknown key 'typ' on line {_line_of(path, 'typ')}; did you mean 'type'?" in errors[0].message


def test_shipped_pipelines_and_the_shared_seed_still_load():
    result = load_pipelines(SHIPPED)
    assert result.errors == [] and len(result.pipelines) == len(list(SHIPPED.glob("*.*[jy]*")))
    if SHARED_SEED.exists():
        loaded, errors = load_file(SHARED_SEED)
        assert errors == [] and loaded.spec.notifications.channels == ["email", "slack"]


def _misspell(key: str, operation: str, position: int, letter: str) -> str:
    at = position % len(key)
    if operation == "delete" and len(key) > 1:
        return key[:at] + key[at + 1:]
    if operation == "double":
        return key[:at] + key[at] + key[at:]
    if operation == "swap" and len(key) > 1:
        at = min(at, len(key) - 2)
        return key[:at] + key[at + 1] + key[at] + key[at + 2:]
    if operation == "replace":
        return key[:at] + letter + key[at + 1:]
    if operation == "case":
        return key[:at] + key[at].swapcase() + key[at + 1:]
    return key[:at] + letter + key[at:]


@given(st.sampled_from(BLOCKS), st.data(), st.sampled_from(["delete", "double", "swap", "replace", "insert", "case"]),
       st.integers(0, 40), st.sampled_from("abcdefghijklmnopqrstuvwxyz_-0123456789"),
       st.sampled_from(["yaml", "json"]))
def test_properties_a_misspelt_key_is_always_refused_and_named(tmp_path_factory, block, data, operation, position,
                                                               letter, fmt):
    where, model = block
    document = _copy()
    mapping = _node(document, where)
    key = data.draw(st.sampled_from(sorted(mapping)))
    typo = _misspell(key, operation, position, letter)
    assume(typo not in model.model_fields)
    mapping[typo] = mapping.pop(key)
    path = _write(tmp_path_factory.mktemp("typo"), document, fmt)
    loaded, errors = load_file(path)
    assert loaded is None
    named = [re.search(rf"unknown key {re.escape(repr(typo))} on line (\d+)", str(e)) for e in errors]
    lines = [int(match.group(1)) for match in named if match]
    assert lines, [str(e) for e in errors]
    assert set(lines) <= set(_lines_of(path, typo))
