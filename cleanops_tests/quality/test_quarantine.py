"""Quarantine review: replay after a rule change moves exactly the rows that now pass."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner

from cleanops.ingestion.load import load_source
from cleanops.pipelines.loader import load_file
from cleanops.quality import quarantine
from cleanops_tests.conftest import unique_id, write_pipeline
from cleanops_tests.transform.helpers import rows, scalar

pytestmark = pytest.mark.server_matrix

CSV = """id,amount,note
1,50,ok
2,150,over the first limit
3,250,over both limits
4,abc,not a number
5,,missing amount
6,180,also over the first limit
"""


def spec(pipeline_id: str, max_amount: float) -> dict:
    return {"pipeline_id": pipeline_id,
            "data_sources": [{"id": "payments", "type": "csv", "path": "payments.csv"}],
            "transformations": [{"type": "validation", "config": {
                "required_fields": ["id", "amount"], "data_types": {"id": "integer", "amount": "float"},
                "ranges": {"amount": {"min": 0, "max": max_amount}}}}]}


@pytest.fixture
def loaded(pipelines_dir, warehouse):
    pipeline_id = unique_id("payments")
    (pipelines_dir / "payments.csv").write_text(CSV)
    pipeline, errors = load_file(write_pipeline(pipelines_dir, spec(pipeline_id, 100)))
    assert not errors
    load_source(pipeline, pipeline.spec.data_sources[0], f"run-{uuid.uuid4()}")
    slug = pipeline.spec.slug
    return {"id": pipeline_id, "dir": pipelines_dir, "staging": f'staging."{slug}__payments"',
            "quarantine": f'quarantine."{slug}__payments"'}


def _counts(warehouse, loaded) -> tuple[int, dict]:
    staged = scalar(warehouse, f"SELECT count(*) FROM {loaded['staging']}")
    statuses = {r["status"]: r["n"] for r in rows(
        warehouse, f"SELECT status, count(*) AS n FROM {loaded['quarantine']} GROUP BY status")}
    return staged, statuses


def test_replay_after_a_rule_change_moves_exactly_the_rows_that_now_pass(loaded, warehouse):
    assert _counts(warehouse, loaded) == (1, {"new": 5})
    pipeline, _ = load_file(write_pipeline(loaded["dir"], spec(loaded["id"], 200)))  # the rule changes
    (report,) = quarantine.replay(pipeline, "reviewer")
    assert (report.examined, report.moved, report.still_failing) == (5, 2, 3)
    assert _counts(warehouse, loaded) == (3, {"new": 3, "replayed": 2})
    moved = rows(warehouse, f"SELECT id, amount, _cleanops_row_number, l.batch_id FROM {loaded['staging']} s "
                            "JOIN cleanops.staged_loads l ON l.load_id = s._cleanops_load_id "
                            "WHERE l.batch_id LIKE 'replay-%' ORDER BY id")
    assert [(r["id"], r["amount"], r["_cleanops_row_number"]) for r in moved] == [(2, 150.0, 2), (6, 180.0, 6)]
    replayed = rows(warehouse, f"SELECT reviewed_by FROM {loaded['quarantine']} WHERE status = 'replayed'")
    assert {r["reviewed_by"] for r in replayed} == {"reviewer"}
    # nothing moves twice: a second replay only re-examines the rows that still fail
    (again,) = quarantine.replay(pipeline, "reviewer")
    assert (again.examined, again.moved) == (3, 0)
    assert _counts(warehouse, loaded) == (3, {"new": 3, "replayed": 2})


def test_accept_marks_rows_reviewed_and_keeps_them(loaded, warehouse):
    pipeline, _ = load_file(loaded["dir"] / f"{loaded['id']}.json")
    assert quarantine.accept(pipeline, "reviewer", error_code="OUT_OF_RANGE") == 3
    assert _counts(warehouse, loaded) == (1, {"new": 2, "accepted": 3})
    (report,) = quarantine.replay(pipeline, "reviewer")
    assert report.examined == 2 and report.moved == 0  # accepted rows are not replayed


def test_quarantine_cli_list_export_replay_accept(loaded, warehouse, tmp_path):
    from cleanops.cli.main import cli

    runner = CliRunner()
    listed = runner.invoke(cli, ["quarantine", "list", loaded["id"], "--json"])
    assert listed.exit_code == 0, listed.output
    payload = json.loads(listed.output)
    assert sum(c["rows"] for c in payload["summary"]) == 5 and "raw_record" not in payload["rows"][0]
    out = tmp_path / "export.jsonl"
    exported = runner.invoke(cli, ["quarantine", "export", loaded["id"], "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 5 and records[0]["raw_record"]["note"]
    write_pipeline(loaded["dir"], spec(loaded["id"], 1000))
    replayed = runner.invoke(cli, ["quarantine", "replay", loaded["id"], "--by", "ci", "--no-models"])
    assert replayed.exit_code == 0 and "moved to staging 3" in replayed.output, replayed.output
    refused = runner.invoke(cli, ["quarantine", "accept", loaded["id"]])
    assert refused.exit_code != 0
    accepted = runner.invoke(cli, ["quarantine", "accept", loaded["id"], "--all", "--by", "ci"])
    assert accepted.exit_code == 0 and "accepted 2" in accepted.output
    assert _counts(warehouse, loaded) == (4, {"replayed": 3, "accepted": 2})
