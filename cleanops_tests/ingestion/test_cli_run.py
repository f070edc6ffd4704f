"""Pipeline retry policies as Dagster sees them (`cleanops pipelines run` itself: cleanops_tests/cli/)."""

from pathlib import Path

import dagster as dg

from cleanops.ingestion.assets import retry_policy_for
from cleanops.pipelines.loader import load_file

REPO = Path(__file__).resolve().parents[2]


def test_retry_policy_maps_to_dagster(tmp_path):
    seed = load_file(REPO / "pipelines" / "user_data_etl.json")[0]
    policy = retry_policy_for(seed)
    assert policy.max_retries == 3 and policy.delay == 60 and policy.backoff == dg.Backoff.EXPONENTIAL
