"""Row validation, vectorised over a chunk with Arrow compute kernels.

Checks run in a fixed order (required, type, pattern, range, allowed values) and a row
is rejected with the first rule it breaks, so every rejected row carries exactly one
error code and the counts by code add up to the rows rejected. Uniqueness needs all rows
of a load and is checked in PostgreSQL by the stager (DUPLICATE_KEY).
"""

from __future__ import annotations

import decimal
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cleanops.pipelines.schema import ValidationConfig
from cleanops.sources.base import RowProblem, SourceChunk, to_text

ERROR_CODES = (
    "MISSING_REQUIRED_FIELD", "INVALID_DATA_TYPE", "INVALID_EMAIL_FORMAT", "PATTERN_MISMATCH",
    "OUT_OF_RANGE", "NOT_ALLOWED_VALUE", "DUPLICATE_KEY", "MALFORMED_ROW", "INVALID_ENCODING",
)

_DAY = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
# PostgreSQL keeps microseconds: more fractional digits are accepted only as zeros, since
# it would round them (23:59:59.9999999 became the next day).
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6}0{0,3})?)?"
# timestamptz accepts offsets up to ±15:59; beyond, it refuses the value.
_ZONE = r"(Z|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)?"
_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
TYPE_PATTERNS = {
    "integer": r"^[+-]?[0-9]+$",
    "float": _NUMBER,
    "decimal": _NUMBER,
    "boolean": r"(?i)^(true|false|t|f|yes|no|y|n|1|0|on|off)$",
    "date": rf"^{_DAY}$",
    "datetime": rf"^{_DAY}([T ]{_TIME}{_ZONE})?$",
    "email": r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$",
}
POSTGRES_TYPES = {"integer": "bigint", "float": "double precision", "decimal": "numeric", "boolean": "boolean",
                  "string": "text", "date": "date", "datetime": "timestamptz", "email": "text"}
BIGINT_MAX = "9223372036854775807"
BIGINT_MIN_MAGNITUDE = "9223372036854775808"
# PostgreSQL's numeric: at most 131072 digits before the point and 16383 after (checked on
# PostgreSQL 18). Older versions also refused a written exponent beyond ±1000
# (NUMERIC_MAX_PRECISION), so such values are refused here whatever the server.
NUMERIC_MAX_INTEGER_DIGITS, NUMERIC_MAX_SCALE, NUMERIC_MAX_EXPONENT = 131072, 16383, 1000


@dataclass
class RejectedRow:
    row_number: int
    origin: str
    error_code: str
    error_field: str | None
    error_message: str
    raw: dict[str, Any] | str


@dataclass
class ValidatedChunk:
    valid: pa.RecordBatch  # typed columns trimmed, empty → null; only valid rows
    valid_row_numbers: pa.Array
    rejected: list[RejectedRow] = field(default_factory=list)
    origin: str = ""

    @property
    def rejected_by_code(self) -> Counter:
        return Counter(r.error_code for r in self.rejected)


class _Failures:
    """First failure per row, recorded check by check."""

    def __init__(self, num_rows: int):
        self.failed = np.zeros(num_rows, dtype=bool)
        self.details: dict[int, tuple[str, str | None, str]] = {}

    def record(self, bad: pa.Array, code: str, column: str | None, describe, values: pa.Array | None) -> None:
        mask = pc.fill_null(bad, False).to_numpy(zero_copy_only=False) & ~self.failed
        indices = np.flatnonzero(mask)
        if not len(indices):
            return
        shown = values.take(pa.array(indices)).to_pylist() if values is not None else [None] * len(indices)
        for index, value in zip(indices.tolist(), shown):
            self.details[index] = (code, column, describe(value))
        self.failed |= mask

    def mark(self, index: int, problem: RowProblem) -> None:
        if not self.failed[index]:
            self.failed[index] = True
            self.details[index] = (problem.error_code, problem.field, problem.message)


def _blank_to_null(column: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(column)
    blank = pc.equal(trimmed, "")
    if not pc.any(blank).as_py():  # the usual case: no copy of every string to null a few
        return trimmed
    return pc.if_else(blank, pa.scalar(None, pa.string()), trimmed)


def _matches(column: pa.Array, pattern: str) -> pa.Array:
    """Regex search with RE2; patterns RE2 cannot run fall back to Python's re."""
    try:
        return pc.match_substring_regex(column, pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        compiled = re.compile(pattern)
        return pa.array([None if v is None else bool(compiled.search(v)) for v in column.to_pylist()], pa.bool_())


def _valid_calendar_dates(column: pa.Array, shaped: pa.Array) -> pa.Array:
    """False where a date-shaped value is not a real day (2023-02-30, 0000-01-01).

    Only values of the right shape (`shaped`) are looked at, so their digits are known
    to parse. The shape already bounds month and day, so only days 29-31 can be
    impossible: those rows are found by comparing the two day bytes (no new strings, no
    regex) and only they are checked against the month's length, leap years included.
    Year 0000 does not exist (1 BC precedes 1 AD) and PostgreSQL refuses it.
    """
    shaped = pc.fill_null(shaped, False)
    day = pc.binary_slice(column.cast(pa.binary()), 8, 10)
    late_in_month = pc.and_(shaped, pc.fill_null(pc.greater_equal(day, pa.scalar(b"29")), False))
    suspicious = np.flatnonzero(late_in_month.to_numpy(zero_copy_only=False))
    valid = np.ones(len(column), dtype=bool)
    if len(suspicious):
        subset = pc.utf8_slice_codeunits(column.take(pa.array(suspicious)), 0, 10)
        year, month, day = (pc.cast(pc.utf8_slice_codeunits(subset, a, b), pa.int32()).to_numpy()
                            for a, b in ((0, 4), (5, 7), (8, 10)))
        leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
        month_length = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[month] + ((month == 2) & leap)
        valid[suspicious] = day <= month_length
    if _may_contain(column, b"0000"):
        valid &= ~pc.fill_null(pc.starts_with(column, "0000"), False).to_numpy(zero_copy_only=False)
    return pa.array(valid)


def _plain_integers(column: pa.Array) -> pa.Array | None:
    """The integer check without a regex when every value is 1-18 ASCII digits (ids,
    counts: the usual case, 4x cheaper); None when some value needs the full check
    (a sign, 19 digits or more, anything else)."""
    ok = pc.and_kleene(pc.ascii_is_decimal(column), pc.less_equal(pc.utf8_length(column), 18))
    return ok if pc.all(ok).as_py() is not False else None


def _integers(column: pa.Array) -> pa.Array:
    """Whole numbers within bigint, −9223372036854775808…9223372036854775807.

    Digits of the same length compare as text exactly as they do as numbers, so the
    bound is checked on the digits with leading zeros removed, without parsing.
    """
    plain = _plain_integers(column)
    if plain is not None:
        return plain
    shaped = _matches(column, TYPE_PATTERNS["integer"])
    digits = pc.utf8_ltrim(pc.utf8_ltrim(column, "+-"), "0")
    length = pc.utf8_length(digits)
    limit = pc.if_else(pc.starts_with(column, "-"), BIGINT_MIN_MAGNITUDE, BIGINT_MAX)
    within = pc.or_kleene(pc.less(length, 19),
                          pc.and_kleene(pc.equal(length, 19), pc.less_equal(digits, limit)))
    return pc.and_kleene(shaped, within)


def _floats(column: pa.Array, shaped: pa.Array) -> pa.Array:
    """Numbers a double holds exactly as written.

    Most numbers are short: with at most 15 characters and an exponent of at most two
    digits, a value has at most 15 significant digits and lies well inside a double's
    normal range, so it comes back from a double unchanged (DBL_DIG = 15). Only the
    other values are looked at one by one.
    """
    unsure = pc.greater(pc.utf8_length(column), 15)
    if _may_contain(column, b"e") or _may_contain(column, b"E"):
        unsure = pc.or_kleene(unsure, _matches(column, "[eE][+-]?[0-9]{3}"))
    return _checked_one_by_one(column, shaped, unsure, float_problem)


def _decimals(column: pa.Array, shaped: pa.Array) -> pa.Array:
    """Numbers within numeric's limits: only a value with an exponent or over 1000
    characters can be beyond them, and only those are looked at one by one."""
    unsure = pc.greater(pc.utf8_length(column), 1000)
    if _may_contain(column, b"e") or _may_contain(column, b"E"):
        unsure = pc.or_kleene(unsure, _matches(column, "[eE]"))
    return _checked_one_by_one(column, shaped, unsure, decimal_problem)


def _checked_one_by_one(column: pa.Array, shaped: pa.Array, unsure: pa.Array, problem) -> pa.Array:
    """`shaped`, where the values also `unsure` pass only if `problem(value)` is None."""
    unsure = pc.and_kleene(shaped, unsure)
    if not pc.any(unsure).as_py():
        return shaped
    indices = np.flatnonzero(pc.fill_null(unsure, False).to_numpy(zero_copy_only=False))
    ok = pc.fill_null(shaped, False).to_numpy(zero_copy_only=False).copy()
    for index, text in zip(indices.tolist(), column.take(pa.array(indices)).to_pylist()):
        ok[index] = problem(text) is None
    return pa.array(ok, mask=pc.is_null(column).to_numpy(zero_copy_only=False))


def float_problem(text: str) -> str | None:
    """Why a number-shaped text is not stored exactly in `double precision`, or None."""
    number = decimal.Decimal(text)
    value = float(text)
    if math.isinf(value):
        return "is too large for a float (double precision)"
    if value == 0 and number != 0:
        return "is too small for a float (double precision): it would become 0"
    if decimal.Decimal(repr(value)) != number:
        return f"cannot be held exactly by a float (double precision), which would store {value!r}"
    return None


def decimal_problem(text: str) -> str | None:
    """Why a number-shaped text is beyond PostgreSQL's `numeric`, or None."""
    exponent = text.lower().partition("e")[2].lstrip("+-").lstrip("0")
    if len(exponent) > 4 or (exponent and int(exponent) > NUMERIC_MAX_EXPONENT):
        return f"has an exponent beyond ±{NUMERIC_MAX_EXPONENT}"
    _, digits, power = decimal.Decimal(text).as_tuple()
    if any(digits) and len(digits) + power > NUMERIC_MAX_INTEGER_DIGITS:
        return f"has more than {NUMERIC_MAX_INTEGER_DIGITS} digits before the decimal point"
    if -power > NUMERIC_MAX_SCALE:
        return f"has more than {NUMERIC_MAX_SCALE} digits after the decimal point"
    return None


def _type_ok(column: pa.Array, kind: str) -> pa.Array:
    """True where a (trimmed, non-blank) value is a valid `kind` PostgreSQL stores as is."""
    if kind == "integer":
        return _integers(column)
    shaped = _matches(column, TYPE_PATTERNS[kind])
    if kind == "float":
        return _floats(column, shaped)
    if kind == "decimal":
        return _decimals(column, shaped)
    if kind in ("date", "datetime"):
        return pc.and_kleene(shaped, _valid_calendar_dates(column, shaped))
    return shaped


def type_problem(value: str, kind: str) -> str:
    """The message for a value of a declared column that is not a valid `kind`."""
    shown = _shown(value)
    if kind == "integer" and re.fullmatch(TYPE_PATTERNS["integer"], value):
        return (f"{shown} is beyond the integer range (bigint, -9223372036854775808 to {BIGINT_MAX});"
                " declare the column decimal to keep it exactly")
    if kind in ("float", "decimal") and re.fullmatch(_NUMBER, value):
        reason = float_problem(value) if kind == "float" else decimal_problem(value)
        if reason:
            advice = "; declare the column decimal to keep it exactly" if kind == "float" else ""
            return f"{shown} {reason}{advice}"
    return f"{shown} is not a valid {kind}"


def _shown(value: str, limit: int = 60) -> str:
    """A value for a message: its repr, cut in the middle when long."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit // 2]!r}…({len(value)} characters)…{value[-limit // 2:]!r}"


def _may_contain(column: pa.Array, needle: bytes) -> bool:
    """One search of the column's character data instead of a kernel over every value
    (may say yes for data just outside a sliced column: then only a slower check runs)."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return False
    data = column.buffers()[2]
    return data is not None and needle in memoryview(data).tobytes()


def _may_hold_nul(column: pa.Array) -> bool:
    return _may_contain(column, b"\x00")


class Validator:
    """Applies one pipeline's validation config to chunks of a source."""

    def __init__(self, config: ValidationConfig):
        self.config = config
        self.typed_columns = {name: kind for name, kind in config.data_types.items() if kind != "string"}

    def column_types(self, columns: list[str]) -> dict[str, str]:
        """PostgreSQL type of each staged column: declared, else text."""
        return {name: POSTGRES_TYPES[self.config.data_types.get(name, "string")] for name in columns}

    def validate(self, chunk: SourceChunk) -> ValidatedChunk:
        batch = self._with_declared_columns(chunk.batch)
        failures = _Failures(batch.num_rows)
        for index, problem in chunk.bad_rows.items():
            failures.mark(index, problem)
        normalised = {name: batch.column(name) for name in batch.schema.names}
        for name in self.typed_columns:
            normalised[name] = _blank_to_null(normalised[name])
        self._check_nul_bytes(batch, failures)
        self._check_required(batch, normalised, failures)
        self._check_types(normalised, failures)
        self._check_patterns(normalised, failures)
        self._check_ranges(normalised, failures)
        self._check_allowed(normalised, failures)
        return self._split(chunk, batch, normalised, failures)

    def _with_declared_columns(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """A declared column the source lacks is a column of nulls (then caught as missing)."""
        declared = [*self.config.required_fields, *self.config.data_types]
        missing = [name for name in dict.fromkeys(declared) if name not in batch.schema.names]
        for name in missing:
            batch = batch.append_column(name, pa.nulls(batch.num_rows, pa.string()))
        return batch

    def _check_nul_bytes(self, batch: pa.RecordBatch, failures: _Failures) -> None:
        """PostgreSQL text cannot hold NUL; such a row is quarantined, not a failed COPY."""
        for name in batch.schema.names:
            if not _may_hold_nul(batch.column(name)):
                continue
            failures.record(pc.match_substring(batch.column(name), "\x00"), "INVALID_ENCODING", name,
                            lambda v, n=name: f"{n}: contains a NUL byte", None)

    def _check_required(self, batch: pa.RecordBatch, normalised: dict[str, pa.Array], failures: _Failures) -> None:
        for name in self.config.required_fields:
            if name in self.typed_columns:  # already trimmed, blanks already null
                blank = pc.is_null(normalised[name])
            else:
                column = batch.column(name)
                blank = pc.or_kleene(pc.is_null(column), pc.equal(pc.utf8_trim_whitespace(column), ""))
            failures.record(blank, "MISSING_REQUIRED_FIELD", name, lambda v, n=name: f"missing required field {n}", None)

    def _check_types(self, columns: dict[str, pa.Array], failures: _Failures) -> None:
        for name, kind in self.typed_columns.items():
            column = columns[name]
            code = "INVALID_EMAIL_FORMAT" if kind == "email" else "INVALID_DATA_TYPE"
            failures.record(pc.invert(_type_ok(column, kind)), code, name,
                            lambda v, n=name, k=kind: f"{n}: {type_problem(v, k)}", column)

    def _check_patterns(self, columns: dict[str, pa.Array], failures: _Failures) -> None:
        for name, pattern in self.config.patterns.items():
            column = columns.get(name)
            if column is None:
                continue
            failures.record(pc.invert(_matches(column, pattern)), "PATTERN_MISMATCH", name,
                            lambda v, n=name, p=pattern: f"{n}: {v!r} does not match {p}", column)

    def _check_ranges(self, columns: dict[str, pa.Array], failures: _Failures) -> None:
        for name, bounds in self.config.ranges.items():
            column = columns.get(name)
            if column is None:
                continue
            column = _blank_to_null(column)
            numeric_ok = _matches(column, _NUMBER)
            failures.record(pc.invert(numeric_ok), "INVALID_DATA_TYPE", name,
                            lambda v, n=name: f"{n}: {v!r} is not a number", column)
            safe = pc.if_else(pc.fill_null(numeric_ok, False), column, pa.scalar(None, pa.string()))
            numbers = pc.cast(safe, pa.float64())
            low = pc.less(numbers, bounds.min) if bounds.min is not None else pa.nulls(len(column), pa.bool_())
            high = pc.greater(numbers, bounds.max) if bounds.max is not None else pa.nulls(len(column), pa.bool_())
            failures.record(pc.or_kleene(pc.fill_null(low, False), pc.fill_null(high, False)), "OUT_OF_RANGE", name,
                            lambda v, n=name, b=bounds: f"{n}: {v} is outside [{b.min}, {b.max}]", column)

    def _check_allowed(self, columns: dict[str, pa.Array], failures: _Failures) -> None:
        for name, allowed in self.config.allowed_values.items():
            column = columns.get(name)
            if column is None:
                continue
            value_set = pa.array([to_text(v) for v in allowed if v is not None], pa.string())
            present = pc.is_valid(column)
            failures.record(pc.and_kleene(present, pc.invert(pc.is_in(column, value_set=value_set))),
                            "NOT_ALLOWED_VALUE", name,
                            lambda v, n=name: f"{n}: {v!r} is not one of the allowed values", column)

    def _split(self, chunk: SourceChunk, batch: pa.RecordBatch, normalised: dict[str, pa.Array],
               failures: _Failures) -> ValidatedChunk:
        keep = pa.array(~failures.failed)
        row_numbers = chunk.batch_row_numbers()
        valid = pa.RecordBatch.from_arrays([normalised[n] for n in batch.schema.names], names=batch.schema.names)
        rejected = [
            RejectedRow(p.row_number, chunk.origin, p.error_code, p.field, p.message, p.raw) for p in chunk.problems
        ]
        if failures.details:
            original = chunk.batch
            indices = sorted(failures.details)
            raw_rows = original.take(pa.array(indices)).to_pylist()
            numbers = row_numbers.take(pa.array(indices)).to_pylist()
            for index, number, raw in zip(indices, numbers, raw_rows):
                code, column, message = failures.details[index]
                rejected.append(RejectedRow(number, chunk.origin, code, column, message, raw))
        return ValidatedChunk(valid.filter(keep), row_numbers.filter(keep), rejected, chunk.origin)
