"""`cleanops metrics` as a user runs it, and its `--since` parser."""

import json
from datetime import datetime, timezone
from pathlib import Path
from unittest import mock

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from cleanops.cli.main import cli
from cleanops.monitoring.durations import DurationError, parse_duration
from cleanops.monitoring.snapshot import MetricsSnapshot
from cleanops_tests.cli.helpers import cleanops

SEED = json.loads((Path(__file__).parent / "seed_metrics.json").read_text())


def _keys(data: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in data.items():
        keys.add(prefix + key)
        if isinstance(value, dict):
            keys |= _keys(value, f"{prefix}{key}.")
    return keys


@pytest.fixture(scope="module")
def as_json(cleanops_database):
    result = cleanops("metrics", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_json_has_every_key_of_the_seed_sample(as_json):
    assert _keys(SEED) <= _keys(as_json), _keys(SEED) - _keys(as_json)
    for group in ("system_metrics", "pipeline_metrics", "cleanup_metrics"):
        assert list(as_json[group])[:len(SEED[group])] == list(SEED[group])  # the seed's order first
        assert all(value is None or isinstance(value, (int, float)) for value in as_json[group].values())
    assert datetime.fromisoformat(as_json["timestamp"].replace("Z", "+00:00")).tzinfo is not None
    assert as_json["window_seconds"] == 86400
    assert {"p95_execution_time_seconds", "records_processed"} <= set(as_json["pipeline_metrics"])


def test_since_sets_the_window(cleanops_database):
    result = cleanops("metrics", "--json", "--since", "90m", timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["window_seconds"] == 5400


def test_prometheus_output_parses(cleanops_database):
    result = cleanops("metrics", "--prometheus", timeout=300)
    assert result.returncode == 0, result.stderr
    families = {family.name: family for family in text_string_to_metric_families(result.stdout)}
    for name in ("cleanops_cpu_usage_percent", "cleanops_memory_usage_percent", "cleanops_active_pipelines",
                 "cleanops_queued_tasks", "cleanops_pipeline_total_executions_24h",
                 "cleanops_pipeline_success_rate_percent", "cleanops_cleanup_files_removed",
                 "cleanops_cleanup_storage_reclaimed_gb"):
        assert families[name].type == "gauge", name
        assert len(families[name].samples) == 1
    assert all(name.startswith("cleanops_") for name in families)
    assert "cleanops_cleanup_operations" in families


def test_plain_output_is_a_table(cleanops_database):
    result = cleanops("metrics", timeout=300)
    assert result.returncode == 0, result.stderr
    for word in ("cpu_usage_percent", "total_executions_24h", "files_removed", "pipelines", "cleanup"):
        assert word in result.stdout


def _snapshot(window):
    return MetricsSnapshot(datetime.now(timezone.utc), int(window.total_seconds()),
                           {"cpu_usage_percent": 1.0, "disk_usage_percent": None}, {"total_executions_24h": 0}, {})


def test_an_unmeasured_figure_is_null_in_json_and_absent_in_prometheus():
    with mock.patch("cleanops.cli.metrics._collect", _snapshot):
        as_json = CliRunner().invoke(cli, ["metrics", "--json"])
        prometheus = CliRunner().invoke(cli, ["metrics", "--prometheus"])
    assert json.loads(as_json.output)["system_metrics"]["disk_usage_percent"] is None
    names = {family.name for family in text_string_to_metric_families(prometheus.output)}
    assert "cleanops_cpu_usage_percent" in names and "cleanops_disk_usage_percent" not in names


def test_json_and_prometheus_together_is_a_usage_error():
    result = CliRunner().invoke(cli, ["metrics", "--json", "--prometheus"])
    assert result.exit_code == 2 and "--prometheus" in result.output


@pytest.mark.parametrize(("text", "seconds"), [("24h", 86400), ("30m", 1800), ("7d", 604800), ("1h30m", 5400),
                                               ("2w", 1209600), ("0.5h", 1800), (" 45S ", 45), ("1d 12h", 129600)])
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "24", "h", "0h", "0.5s", "-1h", "1x", "1h-", "1e3h", "3661d", "inf", "nan", "١h"])
def test_bad_durations(text):
    with pytest.raises(DurationError):
        parse_duration(text)


duration_like = st.one_of(
    st.text(),
    st.lists(st.tuples(st.integers(0, 10**10), st.sampled_from("smhdwxSMH. ")), max_size=4)
      .map(lambda parts: "".join(f"{n}{u}" for n, u in parts)),
    st.from_regex(r"-?[0-9.]{0,12}[smhdw]?", fullmatch=True))


@given(duration_like)
def test_since_is_a_positive_duration_or_a_usage_error_naming_the_option(text):
    with mock.patch("cleanops.cli.metrics._collect", _snapshot):
        result = CliRunner().invoke(cli, ["metrics", "--json", f"--since={text}"])
    if result.exit_code == 0:
        assert json.loads(result.output)["window_seconds"] >= 1
        assert parse_duration(text).total_seconds() >= 1
    else:
        assert result.exit_code == 2, (result.output, result.exception)
        assert "--since" in result.output
        with pytest.raises(DurationError):
            parse_duration(text)
