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


def _rejected(config: dict, **columns) -> dict[int, tuple[str, str]]:
    result = Validator(ValidationConfig.model_validate(config)).validate(_chunk(**columns))
    return {r.row_number: (r.error_code, r.error_message) for r in result.rejected}


def test_bigint_max_is_an_integer():
    values = ["9223372036854775807", "-9223372036854775808", "+9223372036854775807", "0000000000000000000000042",
              "9223372036854775808", "-9223372036854775809", "99999999999999999999", "１２"]
    assert _codes({"data_types": {"n": "integer"}}, n=values) == [None] * 4 + ["INVALID_DATA_TYPE"] * 4
    assert "beyond the integer range" in _rejected({"data_types": {"n": "integer"}}, n=values)[5][1]


def test_float_overflow_and_underflow_are_rejected_not_stored_as_infinity_or_zero():
    values = ["1e309", "-1e309", "1e-400", "inf", "NaN", "1e308", "0e-999", "5e-324"]
    rejected = _rejected({"data_types": {"x": "float"}}, x=values)
    assert sorted(rejected) == [1, 2, 3, 4, 5]
    assert "too large for a float" in rejected[1][1] and "would become 0" in rejected[3][1]
    assert all(code == "INVALID_DATA_TYPE" for code, _ in rejected.values())


def test_float_a_double_cannot_hold_exactly_is_rejected_and_decimal_keeps_it():
    values = ["0.1000000000000000055511151231257827", "12345678901234567890.123456789", "0.1", "0.30000000000000004",
              "1.50000000000000000000000", "9007199254740993"]
    rejected = _rejected({"data_types": {"x": "float"}}, x=values)
    assert sorted(rejected) == [1, 2, 6]
    assert "cannot be held exactly by a float" in rejected[1][1] and "declare the column decimal" in rejected[1][1]
    assert _codes({"data_types": {"x": "decimal"}}, x=values) == [None] * len(values)


def test_decimal_beyond_numeric_is_rejected():
    values = ["1e1000", "1e-1000", "1e1001", "1e-99999999999999999999", "1" * 131073, "0." + "1" * 16384, "-.5", "x"]
    assert _codes({"data_types": {"x": "decimal"}}, x=values) == [None, None] + ["INVALID_DATA_TYPE"] * 4 + [
        None, "INVALID_DATA_TYPE"]


def test_malformed_date_quarantines_the_row_and_the_rest_validate():
    values = ["2023-13-45", "abcdefgh99xx", "2024-02-29", "xxxxxxxx31", "2023-02-29", "2024-01-31", "99"]
    expected = ["INVALID_DATA_TYPE", "INVALID_DATA_TYPE", None, "INVALID_DATA_TYPE", "INVALID_DATA_TYPE", None,
                "INVALID_DATA_TYPE"]
    assert _codes({"data_types": {"d": "date"}}, d=values) == expected
    assert _codes({"data_types": {"d": "datetime"}}, d=values) == expected


def test_dates_postgresql_refuses_are_rejected_not_repaired():
    dates = ["0000-01-01", "0001-01-01", "9999-12-31"]
    assert _codes({"data_types": {"d": "date"}}, d=dates) == ["INVALID_DATA_TYPE", None, None]
    times = ["2024-01-01T10:00:00+20:00", "2024-01-01T10:00:00+16:00", "2024-01-01T10:00:00-15:59",
             "2024-01-01T10:00:00+1559", "0000-12-31T23:00:00Z", "2024-01-01T23:59:59.9999999",
             "2024-01-01T23:59:59.999999000", "2024-01-01T10:00:00.1Z"]
    assert _codes({"data_types": {"t": "datetime"}}, t=times) == [
        "INVALID_DATA_TYPE", "INVALID_DATA_TYPE", None, None, "INVALID_DATA_TYPE", "INVALID_DATA_TYPE", None, None]


def test_rejected_rows_carry_the_source_row_numbers():
    batch = pa.RecordBatch.from_arrays([pa.array(["1", "x", "3"])], names=["n"])
    chunk = SourceChunk(batch, "t.jsonl", 2, row_numbers=pa.array([2, 5, 9]))
    result = Validator(ValidationConfig.model_validate({"data_types": {"n": "integer"}})).validate(chunk)
    assert result.valid_row_numbers.to_pylist() == [2, 9]
    assert [r.row_number for r in result.rejected] == [5]
