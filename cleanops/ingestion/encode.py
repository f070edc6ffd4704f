"""Validated rows → the bytes a COPY sends: PostgreSQL's binary format where it can be.

Why binary: with CSV, PostgreSQL parses every integer and timestamp of every row from
text again, after the validator has already checked them; on 1M users rows that parsing
was about a third of the server's work. Arrow converts the checked text to typed values
in C++, `pgpq` (Rust) writes them in PostgreSQL's binary COPY format, and the server only
copies them into place.

Binary COPY carries no type names: each value must be in the wire format of the target
column's own type, so the staging table's actual column types (read from the catalog,
not assumed from the pipeline file) decide the Arrow type of each column. Whenever a
chunk cannot be converted exactly — a column of a type this module does not encode, or a
value Arrow's parser reads differently from PostgreSQL's (`+5`, nanoseconds, a mix of
zoned and unzoned timestamps) — the chunk goes as CSV text and PostgreSQL parses it, as
it always did. Both paths run with `TimeZone = UTC` (set by the stager), so a datetime
without an offset means UTC either way.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pgpq import ArrowToPostgresBinaryEncoder

# PostgreSQL type (format_type) → the Arrow type pgpq writes in that type's binary format.
WIRE_TYPES: dict[str, pa.DataType] = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "double precision": pa.float64(),
    "real": pa.float32(),
    "boolean": pa.bool_(),
    "text": pa.string(),
    "date": pa.date32(),
    "timestamp with time zone": pa.timestamp("us", "UTC"),
    "timestamp without time zone": pa.timestamp("us"),
}
TRUE_WORDS = pa.array(["true", "t", "yes", "y", "1", "on"])
# A binary COPY stream opens with this signature, flags and header extension, and ends with
# a field count of -1; the rows of every chunk go in between.
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
BINARY_TRAILER = b"\xff\xff"


class NotExact(Exception):
    """A value Arrow would read differently from PostgreSQL: send the chunk as text."""


@dataclass
class Payload:
    format: str  # "binary" or "csv"
    data: memoryview | bytes  # the rows only: a binary stream's header and trailer are apart

    @property
    def copy_options(self) -> str:
        return "FORMAT binary" if self.format == "binary" else "FORMAT csv"

    @property
    def header(self) -> bytes:
        return BINARY_HEADER if self.format == "binary" else b""

    @property
    def trailer(self) -> bytes:
        return BINARY_TRAILER if self.format == "binary" else b""


def encode(table: pa.Table, column_types: dict[str, str]) -> Payload:
    """The COPY payload for `table`, whose columns are named as in the staging table."""
    if all(column_types.get(n) in WIRE_TYPES for n in table.column_names):
        try:
            typed = pa.table([to_wire(table.column(n), column_types[n]) for n in table.column_names],
                             names=table.column_names)
            return Payload("binary", _binary(typed))
        except NotExact:
            pass
    return Payload("csv", _csv(table))


def _binary(table: pa.Table) -> bytes | memoryview:
    """The rows in binary COPY format, without the stream's header and trailer (no copy
    of the megabytes pgpq hands back: they go to the socket as they are)."""
    encoder = ArrowToPostgresBinaryEncoder(table.schema)
    encoder.write_header()  # the encoder insists; the stream's own header is sent once, apart
    parts = [encoder.write_batch(batch) for batch in table.to_batches()]
    tail = bytes(encoder.finish())  # what pgpq still buffers, then the trailer
    if not tail.endswith(BINARY_TRAILER):
        raise NotExact("pgpq's output did not end with the binary COPY trailer")
    parts.append(memoryview(tail)[:-len(BINARY_TRAILER)])
    filled = [part for part in parts if len(part)]
    return filled[0] if len(filled) == 1 else b"".join(filled)


def _csv(table: pa.Table) -> memoryview:
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, write_options=pacsv.WriteOptions(include_header=False))
    return buffer.getbuffer()


def to_wire(column: pa.ChunkedArray | pa.Array, pg_type: str) -> pa.Array:
    """One column as the Arrow type of its PostgreSQL column; raises NotExact if unsure."""
    target = WIRE_TYPES[pg_type]
    if isinstance(column, pa.ChunkedArray):  # a chunk's table holds one array per column
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    if column.type == target:
        return column
    if pa.types.is_string(column.type) and pa.types.is_boolean(target):
        return _to_bool(column)
    if pa.types.is_string(column.type) and pa.types.is_timestamp(target):
        return _to_timestamp(column, target)
    try:
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise NotExact(str(error)) from error


def _to_bool(column: pa.Array) -> pa.Array:
    """The validator accepted true/false/t/f/yes/no/y/n/1/0/on/off in any case."""
    truth = pc.is_in(pc.utf8_lower(column), value_set=TRUE_WORDS)
    return pc.if_else(pc.is_null(column), pa.scalar(None, pa.bool_()), truth)


def _to_timestamp(column: pa.Array, target: pa.DataType) -> pa.Array:
    """ISO timestamps all without an offset (taken as UTC), or, for timestamptz, all with
    one; anything else (a mix, more than 6 fractional digits) goes as text."""
    try:
        naive = column.cast(pa.timestamp("us"))
    except pa.ArrowInvalid as error:
        if target.tz is None:  # PostgreSQL ignores the offset there; Arrow would apply it
            raise NotExact(str(error)) from error
        try:
            return column.cast(target)
        except pa.ArrowInvalid as error:
            raise NotExact(str(error)) from error
    if target.tz is None:
        return naive
    return naive.view(target)  # the same microseconds, now read as UTC (3x cheaper than assume_timezone)
