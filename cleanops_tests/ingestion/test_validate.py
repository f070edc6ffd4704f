"""Validation rules, one error code each, applied to real Arrow chunks."""

import pyarrow as pa

from cleanops.ingestion.validate import Validator
from cleanops.pipelines.schema import ValidationConfig
from cleanops.sources.base import SourceChunk


def _chunk(**columns) -> SourceChunk:
    batch = pa.RecordBatch.from_arrays([pa.array(v, pa.string()) for v in columns.values()], names=list(columns))
    return SourceChunk(batch, "test.csv", 1)


def _codes(config: dict, **columns) -> list:
    result = Validator(ValidationConfig.model_validate(config)).validate(_chunk(**columns))
    by_row = {r.row_number: r.error_code for r in result.rejected}
    return [by_row.get(i + 1) for i in range(len(next(iter(columns.values()))))]


def test_required_fields_blank_and_null_are_missing():
    assert _codes({"required_fields": ["a"]}, a=["x", "", None, "  "]) == [
        None, "MISSING_REQUIRED_FIELD", "MISSING_REQUIRED_FIELD", "MISSING_REQUIRED_FIELD"]


def test_data_types():
    config = {"data_types": {"i": "integer", "f": "float", "b": "boolean", "d": "date", "t": "datetime"}}
    rows = dict(
        i=["1", "x1", "2", "3", "4", "5"],
        f=["1.5", "2", "abc", "3e5", "4", "5"],
        b=["true", "no", "1", "maybe", "T", "off"],
        d=["2024-02-29", "2024-01-01", "2024-01-01", "2024-01-01", "2023-02-29", "2024-01-01"],
        t=["2024-01-01T10:00:00Z", "2024-01-01 10:00", "2024-01-01", "2024-01-01", "2024-01-01", "2024-01-01T25:00"],
    )
    assert _codes(config, **rows) == [None, "INVALID_DATA_TYPE", "INVALID_DATA_TYPE", "INVALID_DATA_TYPE",
                                      "INVALID_DATA_TYPE", "INVALID_DATA_TYPE"]


def test_nulls_pass_type_checks_unless_required():
    config = {"data_types": {"d": "date", "t": "datetime", "i": "integer"}}
    assert _codes(config, d=[None, ""], t=[None, " "], i=[None, ""]) == [None, None]


def test_email_format():
    assert _codes({"data_types": {"e": "email"}}, e=["a@b.com", "a@b", "no-at.com", None]) == [
        None, "INVALID_EMAIL_FORMAT", "INVALID_EMAIL_FORMAT", None]


def test_pattern_range_allowed_values():
    config = {"patterns": {"code": r"^[A-Z]{3}$"}, "ranges": {"n": {"min": 0, "max": 10}},
              "allowed_values": {"c": ["EUR", "USD"]}}
    assert _codes(config, code=["ABC", "abc", "ABC", "ABC"], n=["5", "5", "11", "5"], c=["EUR", "EUR", "USD", "GBP"]) == [
        None, "PATTERN_MISMATCH", "OUT_OF_RANGE", "NOT_ALLOWED_VALUE"]


def test_first_broken_rule_wins_and_counts_add_up():
    config = {"required_fields": ["a"], "data_types": {"a": "integer", "b": "email"}}
    result = Validator(ValidationConfig.model_validate(config)).validate(
        _chunk(a=[None, "x", "1", "2"], b=["bad", "bad", "bad", "ok@x.io"]))
    assert [r.error_code for r in sorted(result.rejected, key=lambda r: r.row_number)] == [
        "MISSING_REQUIRED_FIELD", "INVALID_DATA_TYPE", "INVALID_EMAIL_FORMAT"]
    assert result.valid.num_rows + len(result.rejected) == 4
    assert result.valid_row_numbers.to_pylist() == [4]


def test_rejected_rows_keep_the_original_values():
    result = Validator(ValidationConfig.model_validate({"data_types": {"a": "integer"}})).validate(
        _chunk(a=[" 12 ", "1 2"]))
    assert result.valid.column("a").to_pylist() == ["12"]
    assert result.rejected[0].raw == {"a": "1 2"}


def test_nul_bytes_are_quarantined_not_a_failed_copy():
    assert _codes({}, a=["ok", "bad\x00value"]) == [None, "INVALID_ENCODING"]
