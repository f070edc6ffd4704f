"""Property-based tests of the CSV cutter and reader on hostile input, compared with
Python's csv module on the same bytes. Pieces are a few bytes long, so piece boundaries
fall everywhere: inside quotes, between CR and LF, inside a UTF-8 character."""

from __future__ import annotations

import csv
import gzip
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cleanops.pipelines.schema import FileSource
from cleanops.sources import ReadContext, SourceError, csv_files, files
from cleanops.sources.csv_files import count_lines

_FOLDER = Path(tempfile.mkdtemp(prefix="csv-properties-"))


def _read(data: bytes, piece_bytes: int, max_record: int | None = None, **options):
    path = _FOLDER / "data.csv"
    path.write_bytes(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csv_files, "CSV_PIECE_BYTES", piece_bytes)
        if max_record is not None:
            patch.setattr(csv_files, "MAX_RECORD_BYTES", max_record)
        chunks = list(files.read_files(FileSource(id="s", type="csv", path=str(path), **options),
                                       ReadContext("p", _FOLDER)))
    return chunks


def _python_records(text: str, delimiter: str) -> list[list[str]]:
    """What Python's csv module reads, blank lines left out (pyarrow skips them)."""
    return [record for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if record]


def _start_lines(text: str, delimiter: str) -> list[int]:
    """The physical line each record starts on (LF, CRLF or CR end a line), header included."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    starts, consumed = [], 0
    for _ in reader:
        starts.append(consumed + 1)
        consumed = reader.line_num
    return starts


_CELL = st.text(alphabet=st.sampled_from(["a", "b", " ", ",", ";", "|", "\t", '"', "\n", "\r", "é", "€"]),
                max_size=6)


@given(
    rows=st.lists(st.lists(_CELL, min_size=1, max_size=4), max_size=12),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    line_end=st.sampled_from(["\n", "\r\n"]),
    final_line_end=st.booleans(),
    compressed=st.booleans(),
    piece_bytes=st.integers(1, 48),
)
@example(rows=[["", '\r"\r'], [""], [""]], delimiter=",", quoting=csv.QUOTE_ALL, line_end="\n",
         final_line_end=False, compressed=False, piece_bytes=1)
def test_csv_reader_properties_well_formed_files_round_trip(rows, delimiter, quoting, line_end, final_line_end,
                                                           compressed, piece_bytes):
    if quoting == csv.QUOTE_MINIMAL:  # the writer leaves a lone CR unquoted when lines end in LF
        rows = [[cell.replace("\r", "") for cell in row] for row in rows]
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator=line_end).writerows([["x", "y", "z"],
                                                                                                  *rows])
    text = buffer.getvalue()
    if not final_line_end and rows:
        text = text[:-len(line_end)]
    data = text.encode()
    chunks = _read(gzip.compress(data) if compressed else data, piece_bytes, delimiter=delimiter)

    staged = [list(row.values()) for chunk in chunks for row in chunk.batch.to_pylist()]
    problems = [problem for chunk in chunks for problem in chunk.problems]
    records = _python_records(text, delimiter)[1:]
    assert records == rows  # the reference reads back what its writer wrote
    assert staged == [record for record in records if len(record) == 3]  # exactly, value for value
    assert len(staged) + len(problems) == len(records)
    starts = _start_lines(text, delimiter)[1:]
    assert [p.row_number for p in problems] == [line for line, r in zip(starts, records) if len(r) != 3]
    assert all(p.error_code == "MALFORMED_ROW" and p.message.startswith(f"line {p.row_number}: expected 3 fields")
               for p in problems)
    assert not any(chunk.bad_rows for chunk in chunks)


_TOKEN = st.sampled_from([b"a", b"b", b",", b'"', b'""', b"\n", b"\r\n", b"\r", b" ", "é".encode(), b"\xff"])


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
@given(
    body=st.lists(_TOKEN, max_size=60).map(b"".join),
    header_end=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    piece_bytes=st.integers(1, 40),
    max_record=st.sampled_from([None, 16, 48]),
)
@example(body=b'1,"open quote\n2,b\n3,c\n', header_end=b"\n", piece_bytes=40, max_record=None)
@example(body=b'1,"x\r2,b\r', header_end=b"\r", piece_bytes=3, max_record=16)
@example(body=b'aaaaaaaaaaaa,"\r\n"', header_end=b"\n", piece_bytes=1, max_record=16)
@example(body=b'aaaaaaaaaaa,"\r\na"', header_end=b"\n", piece_bytes=1, max_record=16)
@example(body=b'aaaaaa""""""""\r""', header_end=b"\n", piece_bytes=1, max_record=16)
def test_csv_reader_properties_hostile_bytes_lose_nothing(body, header_end, piece_bytes, max_record):
    data = b"a,b" + header_end + body
    try:
        chunks = _read(data, piece_bytes, max_record)
    except SourceError as error:  # only a line longer than the record limit may fail the file
        assert max_record is not None and "is longer than" in str(error), error
        line_end = b"\r" if header_end == b"\r" else b"\n"  # the header line decides what ends a line
        assert max(len(line) for line in data.split(line_end)) + len(line_end) > max_record
        return
    staged = [row for chunk in chunks for row in chunk.batch.to_pylist()]
    problems = [problem for chunk in chunks for problem in chunk.problems]
    lines = count_lines(data, 0, len(data)) + 1
    for problem in problems:
        assert problem.error_code == "MALFORMED_ROW" and problem.message.startswith(f"line {problem.row_number}: ")
        assert 2 <= problem.row_number <= lines
    for chunk in chunks:
        for index, bad in chunk.bad_rows.items():
            assert bad.error_code == "INVALID_ENCODING" and bad.field and bad.message
            assert bad.row_number == chunk.first_row_number + index
    # Records cut short on purpose (a quote never closed, a record over the limit) differ
    # from what Python's csv module reads; the rest must match it exactly.
    unterminated = [p for p in problems if "unterminated quote" in p.message or "longer than" in p.message]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # Python's csv module reads text only
    if not unterminated:
        records = _python_records(text, ",")[1:]
        assert [list(row.values()) for row in staged] == [r for r in records if len(r) == 2]
        assert len(staged) + len(problems) == len(records)
