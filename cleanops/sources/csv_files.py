"""CSV files: decompressed and decoded as a stream, cut into pieces at record boundaries,
each piece parsed by pyarrow as raw bytes.

Memory stays flat whatever the file: one piece (~2 MiB) is held at a time, and a single
record may not grow past MAX_RECORD_BYTES. Finding the boundaries is one linear pass: each
scan starts at a record boundary, and a record longer than what was scanned is only scanned
again once the data held has doubled. A quoted field that never closes (a stray quote) does
not swallow the rest of the file: the record holding it is quarantined as MALFORMED_ROW
and reading resumes on the next physical line. A row with invalid UTF-8 or the wrong
number of fields is quarantined on its own instead of failing the whole file.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from cleanops.pipelines.schema import FileSource
from cleanops.sources.base import ReadContext, RowProblem, SourceChunk, SourceError, normalise_column_names
from cleanops.sources.compression import DecompressedFile

# ~25k users rows a piece. The file is cut into pieces here rather than by pyarrow's
# streaming reader, which reads ahead and held ~40 MB of blocks at 1 MiB blocks (80 MB at
# 2 MiB). Cutting ourselves, one piece is read at a time, so pieces can be twice as big for
# the same peak RSS (per-chunk costs halve: 38 chunks for 1M rows, not 76). Each MiB more
# costs ~20 MB of peak RSS (the chunk's copies through validation and COPY), for no gain.
CSV_PIECE_BYTES = 2 << 20
# The longest record (a quoted field may hold newlines) read before an open quote is taken
# for a stray one: it bounds both memory and the work a stray quote can cause.
MAX_RECORD_BYTES = 16 << 20

_QUOTE = ord('"')
_BOMS = [  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
]


def read_csv(path: Path, source: FileSource, context: ReadContext, digest=None) -> Iterator[SourceChunk]:
    """The file's rows as chunks of text columns; `digest` sees every raw byte as stored."""
    with DecompressedFile(path, digest) as raw:
        stream = Utf8Stream(raw, source.encoding, str(path))
        line_end = _line_end(stream.peek())
        lines = _LineCounter(lambda: _reopened(path, source.encoding))
        cutter = _RecordCutter(stream.blocks(CSV_PIECE_BYTES), source.delimiter, line_end, str(path), lines)
        try:
            yield from _parse_pieces(path, source.delimiter, cutter.pieces(), lines)
        finally:
            lines.close()


def _reopened(path: Path, encoding: str) -> Iterator[bytes]:
    with DecompressedFile(path) as raw:
        yield from Utf8Stream(raw, encoding, str(path)).blocks(1 << 20)


def _parse_pieces(path: Path, delimiter: str, pieces: Iterator["_Piece | _Unterminated"],
                  lines: "_LineCounter") -> Iterator[SourceChunk]:
    first = next(pieces, None)
    if first is None:
        raise SourceError(f"{path}: the file is empty (no header row)")
    if isinstance(first, _Unterminated):
        raise SourceError(f"{path}: the header row (line 1) has an unterminated quote")
    names = normalise_column_names(_csv_header(path, first.data, delimiter), str(path))
    parser = _PieceParser(path, names, delimiter, lines)
    next_row = 1
    for piece in itertools.chain([first], pieces):
        if isinstance(piece, _Unterminated):
            parser.malformed.append(piece.problem(lines, str(path)))
            continue
        for batch in parser.parse(piece):
            chunk = _decode_batch(batch, str(path), next_row)
            chunk.problems.extend(parser.malformed)
            parser.malformed.clear()
            next_row += batch.num_rows
            yield chunk
    if parser.malformed:
        yield SourceChunk(_empty_batch(names), str(path), next_row, problems=list(parser.malformed))


def _csv_header(path: Path, first_piece: bytes, delimiter: str) -> list[str]:
    head = first_piece[:1 << 16]
    if not head.strip():
        raise SourceError(f"{path}: the file is empty (no header row)")
    text = head.decode("utf-8", errors="replace")
    first = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), None)
    if not first:
        raise SourceError(f"{path}: the first line holds no column names")
    return first


class _PieceParser:
    """pyarrow's CSV parser on one piece at a time, every column as raw bytes."""

    def __init__(self, path: Path, names: list[str], delimiter: str, lines: "_LineCounter"):
        self.path, self.names, self.delimiter, self.lines = path, names, delimiter, lines
        self.malformed: list[RowProblem] = []
        self.piece = _Piece(b"", 0)
        self.read_options = pacsv.ReadOptions(column_names=names, use_threads=False)
        self.parse_options = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                                invalid_row_handler=self._on_invalid_row)
        self.convert_options = pacsv.ConvertOptions(column_types={name: pa.binary() for name in names},
                                                    strings_can_be_null=False, quoted_strings_can_be_null=False,
                                                    null_values=[])

    def parse(self, piece: "_Piece") -> list[pa.RecordBatch]:
        self.piece = piece
        self.read_options.skip_rows = 1 if piece.offset == 0 else 0  # the header
        self.read_options.block_size = len(piece.data) + 1  # one batch per piece
        if not piece.data.isascii() and not _is_utf8(piece.data):
            # pyarrow cannot hand a malformed row that is not valid UTF-8 to the handler (it
            # reports an unraisable error and fails): Python's csv module reads quotes the same way.
            return [self._parse_in_python(piece)]
        self.invalid_rows = 0
        try:
            table = pacsv.read_csv(pa.py_buffer(piece.data), read_options=self.read_options,
                                   parse_options=self.parse_options, convert_options=self.convert_options)
        except pa.ArrowInvalid as error:
            if "Empty CSV file" in str(error):
                return []  # the header alone, or blank lines
            raise SourceError(f"{self.path}: cannot parse CSV near line {self.lines.line_at(piece.offset)}: "
                              f"{error}") from error
        if self.invalid_rows:
            # pyarrow numbers records, not lines, and a quoted field may hold line ends: the
            # rare piece with a malformed row is read again by Python's csv module, which
            # tells the line every record starts on.
            return [self._parse_in_python(piece)]
        return table.to_batches()

    def _on_invalid_row(self, row) -> str:
        self.invalid_rows += 1
        return "skip"

    def _parse_in_python(self, piece: "_Piece") -> pa.RecordBatch:
        text = piece.data.decode("utf-8", errors="surrogateescape")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=self.delimiter)
        columns: list[list[bytes]] = [[] for _ in self.names]
        first_line, consumed = self.lines.line_at(piece.offset), 0
        for index, record in enumerate(reader):
            line, consumed = first_line + consumed, reader.line_num
            if not record or (index == 0 and piece.offset == 0):
                continue  # a blank line, or the header
            values = [value.encode("utf-8", errors="surrogateescape") for value in record]
            if len(values) != len(self.names):
                raw = self.delimiter.encode().join(values).decode("utf-8", errors="backslashreplace")
                self.malformed.append(RowProblem(
                    line, "MALFORMED_ROW", None,
                    f"line {line}: expected {len(self.names)} fields, found {len(values)}", raw))
                continue
            for column, value in zip(columns, values):
                column.append(value)
        return pa.RecordBatch.from_arrays([pa.array(c, pa.binary()) for c in columns], names=self.names)


def _is_utf8(data: bytes) -> bool:
    """Checked by pyarrow without making a Python string of the piece."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


# --- Decoding ----------------------------------------------------------------------------

class Utf8Stream:
    """A file's text as UTF-8 bytes, in blocks.

    UTF-8 (the default) passes through untouched, so that a row with invalid UTF-8 is
    quarantined on its own later; a UTF-8, UTF-16 or UTF-32 byte order mark is recognised
    and dropped. Any other declared encoding is decoded incrementally, and a byte it cannot
    decode fails the file with the line and byte offset."""

    def __init__(self, raw: DecompressedFile, encoding: str, origin: str):
        self.raw, self.origin = raw, origin
        self.head = raw.read(1 << 16)
        declared = codecs.lookup(encoding).name
        self.codec = "utf-8"
        if declared == "utf-8":
            for bom, codec in _BOMS:
                if self.head.startswith(bom):
                    self.head, self.codec = self.head[len(bom):], codec
                    break
        else:
            self.codec = declared

    def peek(self) -> bytes:
        """The first bytes of the text (UTF-8)."""
        if self.codec == "utf-8":
            return self.head
        return self.head[:4096].decode(self.codec, errors="replace").lstrip("\ufeff").encode()

    def blocks(self, size: int) -> Iterator[bytes]:
        if self.codec == "utf-8":
            yield from self._raw_blocks(size)
        else:
            yield from self._transcoded(size)

    def _raw_blocks(self, size: int) -> Iterator[bytes]:
        head, self.head = self.head, b""
        for start in range(0, len(head), size):
            yield head[start:start + size]
        while block := self.raw.read(size):
            yield block

    def _transcoded(self, size: int) -> Iterator[bytes]:
        decoder = codecs.getincrementaldecoder(self.codec)(errors="strict")
        offset, newlines, first = 0, 0, True
        for block in self._raw_blocks(size):
            state = decoder.getstate()
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as error:
                raise self._decode_error(error, block, state, offset, newlines) from error
            if first:
                text, first = text.lstrip("\ufeff"), False
            newlines += text.count("\n")
            offset += len(block)
            yield text.encode("utf-8")
        try:
            tail = decoder.decode(b"", final=True)
        except UnicodeDecodeError as error:
            raise self._decode_error(error, b"", decoder.getstate(), offset, newlines) from error
        if tail:
            yield tail.encode("utf-8")

    def _decode_error(self, error: UnicodeDecodeError, block: bytes, state, offset: int,
                      newlines: int) -> SourceError:
        pending = len(state[0])  # bytes the decoder held back from the blocks before
        good = codecs.getincrementaldecoder(self.codec)(errors="replace")
        good.setstate(state)
        line = 1 + newlines + good.decode(block[:max(error.start - pending, 0)]).count("\n")
        return SourceError(f"{self.origin}: line {line}, byte offset {offset - pending + error.start}: "
                           f"not valid {self.codec} ({error.reason})")


def count_lines(data: bytes, start: int, stop: int) -> int:
    """Line ends in data[start:stop] as Python and pyarrow see them: LF, CRLF or a lone CR.
    A CRLF split by `start` was counted at its CR already."""
    lines = data.count(b"\n", start, stop) + data.count(b"\r", start, stop) - data.count(b"\r\n", start, stop)
    if start < stop and data[start] == 10 and start > 0 and data[start - 1] == 13:
        lines -= 1
    return lines


def _line_end(head: bytes) -> bytes:
    """b"\\r" for a file whose lines end in a lone CR (classic Mac), else b"\\n"."""
    cr, lf = head.find(b"\r"), head.find(b"\n")
    if cr >= 0 and (lf < 0 or cr < lf) and head[cr + 1:cr + 2] not in (b"\n", b""):
        return b"\r"
    return b"\n"


class _LineCounter:
    """Physical line numbers of offsets in the text, counted only when a message needs one:
    counting every piece's line ends cost more than the rare malformed row is worth."""

    def __init__(self, reopen: Callable[[], Iterator[bytes]]):
        self.reopen = reopen
        self.blocks = None

    def close(self) -> None:
        if self.blocks is not None:
            self.blocks.close()

    def line_at(self, offset: int) -> int:
        if self.blocks is None or offset < self.offset:
            self.close()
            self.blocks, self.block, self.start, self.offset, self.line = self.reopen(), b"", 0, 0, 1
            self.after_cr = False
        while self.offset < offset:
            if self.start == len(self.block):
                self.block, self.start = next(self.blocks, b""), 0
                if not self.block:
                    break
            stop = min(self.start + offset - self.offset, len(self.block))
            self.line += count_lines(self.block, self.start, stop)
            if self.start == 0 and self.after_cr and self.block[:1] == b"\n":
                self.line -= 1  # the LF of a CRLF split between blocks
            self.after_cr = self.block[stop - 1] == 13
            self.offset += stop - self.start
            self.start = stop
        return self.line


# --- Cutting into records --------------------------------------------------------------

@dataclass
class _Piece:
    data: bytes
    offset: int  # in the UTF-8 text


@dataclass
class _Unterminated:
    """A record whose quoted field never closed, up to the end of the line it opened on."""

    data: bytes
    offset: int
    quote_offset: int
    too_long: bool
    closed: bool = False  # the quoted field closed, but only after the record passed the limit

    def problem(self, lines: _LineCounter, origin: str) -> RowProblem:
        line = lines.line_at(self.offset)
        opened = lines.line_at(self.quote_offset)
        if self.closed:
            message = (f"line {line}: the quoted field opened on line {opened} holds line ends and makes "
                       f"the record longer than {_size(MAX_RECORD_BYTES)}; reading resumed on line {opened + 1}")
        else:
            reason = (f"the quoted field is not closed within {_size(MAX_RECORD_BYTES)}" if self.too_long
                      else "the quoted field is never closed")
            message = (f"line {line}: unterminated quote opened on line {opened} ({reason}); "
                       f"reading resumed on line {opened + 1}")
        return RowProblem(line, "MALFORMED_ROW", None, message,
                          self.data.decode("utf-8", errors="backslashreplace"))


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"


class _RecordCutter:
    """Blocks of text in, pieces that each end at a record boundary out."""

    def __init__(self, blocks: Iterator[bytes], delimiter: str, line_end: bytes, origin: str,
                 lines: _LineCounter):
        self.blocks, self.line_end, self.origin, self.lines = blocks, line_end, origin, lines
        self.field_starts = {ord(delimiter), ord("\n"), ord("\r")}
        self.opens_field = np.zeros(256, dtype=bool)  # bytes after which a quote may open a field
        self.opens_field[[*self.field_starts, _QUOTE]] = True
        self.offset = 0  # of the data held, in the text

    def pieces(self) -> Iterator[_Piece | _Unterminated]:
        held, size, wanted = [], 0, 1
        for block in self.blocks:
            held.append(block)
            size += len(block)
            if size < wanted:
                continue  # a record longer than what was scanned: scan again once doubled
            data = b"".join(held) if len(held) > 1 else held[0]
            rest = yield from self._cut(data, final=False)
            held, size = ([rest], len(rest)) if rest else ([], 0)
            wanted = min(2 * size, MAX_RECORD_BYTES + 1)
        data = b"".join(held)
        yield from self._cut(data, final=True)

    def _cut(self, data: bytes, final: bool):
        """Yield the complete records of `data`; return the incomplete rest."""
        while data:
            end, open_quote = self._scan(data)
            if end and self.line_end == b"\r" and data[end:end + 1] == b"\n":
                end += 1  # a CRLF stays whole, so that no piece starts with half a line end
            elif end == len(data) and self.line_end == b"\r" and not final:
                end = self._scan(data[:-1])[0]  # the LF after this CR may be in the next block
            if end:
                yield _Piece(data[:end], self.offset)
                data, self.offset = data[end:], self.offset + end
                open_quote = None if open_quote is None else open_quote - end
            if open_quote is None:
                if final:
                    if data:
                        yield _Piece(data, self.offset)  # the last record, without a line end
                    return b""
                if len(data) > MAX_RECORD_BYTES and self.line_end in data:
                    # No line end outside quotes, so these are inside a closed quoted field:
                    # a record over the limit across lines, not one over-long line.
                    data = yield from self._unterminated(data, data.index(b'"'), too_long=True, closed=True)
                    continue
                if len(data) > MAX_RECORD_BYTES:
                    raise SourceError(f"{self.origin}: line {self.lines.line_at(self.offset)} is longer than "
                                      f"{_size(MAX_RECORD_BYTES)}")
                return data
            if not final and len(data) <= MAX_RECORD_BYTES:
                return data
            data = yield from self._unterminated(data, open_quote, too_long=not final)
        return b""

    def _unterminated(self, data: bytes, open_quote: int, too_long: bool, closed: bool = False):
        """Quarantine the record up to the end of the line its stray quote opened on, and
        give back what follows to be read as records again."""
        line_end = data.find(self.line_end, open_quote)
        resume = len(data) if line_end < 0 else line_end + 1
        if data[resume - 1:resume + 1] == b"\r\n":
            resume += 1
        yield _Unterminated(data[:resume], self.offset, self.offset + open_quote, too_long, closed)
        self.offset += resume
        return data[resume:]

    def _scan(self, data: bytes) -> tuple[int | None, int | None]:
        """(just past the last line end outside quotes, start of a quoted field still open at
        the end of `data`); `data` starts at a record boundary."""
        if b'"' not in data:  # the usual case, found at memchr speed
            return (data.rfind(self.line_end) + 1) or None, None
        raw = np.frombuffer(data, dtype=np.uint8)
        quotes = np.flatnonzero(raw == _QUOTE)
        if self._quoted_as_rfc4180(raw, quotes):
            return self._scan_by_parity(data, quotes)
        return self._scan_quote_by_quote(data, quotes.tolist())

    def _quoted_as_rfc4180(self, raw: np.ndarray, quotes: np.ndarray) -> bool:
        """Whether counting quotes tells the state: then a line end is inside quotes exactly
        when an odd number of quotes precede it, which numpy can tell for a whole piece at
        once. Counting goes wrong first at a quote it takes for an opening one that is not
        at the start of a field (`5" screen`, or `"a"b"`): every other quote either toggles
        the state as counting says, or is doubled inside a quoted field (which toggles it
        twice, in a row)."""
        opening = quotes[0::2]
        return bool(self.opens_field[raw[opening - 1]].all()) if opening[0] else \
            bool(self.opens_field[raw[opening[1:] - 1]].all())

    def _scan_by_parity(self, data: bytes, quotes: np.ndarray) -> tuple[int | None, int | None]:
        open_quote = None
        if len(quotes) % 2:
            first = len(quotes) - 1
            while first >= 2 and quotes[first - 1] == quotes[first] - 1:  # a doubled quote
                first -= 2
            open_quote = int(quotes[first])
        end = len(data)
        while (line_end := data.rfind(self.line_end, 0, end)) >= 0:
            before = int(np.searchsorted(quotes, line_end))
            if before % 2 == 0:
                return line_end + 1, open_quote
            end = int(quotes[before - 1])  # inside a quoted field: look before it opened
        return None, open_quote

    def _scan_quote_by_quote(self, data: bytes, quotes: list[int]) -> tuple[int | None, int | None]:
        """pyarrow's (and Python's) reading: a quote opens a quoted field only at the start
        of a field; inside one, a doubled quote is a quote and a single one closes it."""
        end, outside_from, open_quote, index = None, 0, None, 0
        while index < len(quotes):
            at = quotes[index]
            if open_quote is None:
                if at == 0 or data[at - 1] in self.field_starts:
                    if (line_end := data.rfind(self.line_end, outside_from, at)) >= 0:
                        end = line_end + 1
                    open_quote = at
                index += 1
            elif index + 1 < len(quotes) and quotes[index + 1] == at + 1:
                index += 2  # a doubled quote
            else:
                open_quote, outside_from, index = None, at + 1, index + 1
        if open_quote is None and (line_end := data.rfind(self.line_end, outside_from)) >= 0:
            end = line_end + 1
        return end, open_quote


# --- Batches -----------------------------------------------------------------------------

def _empty_batch(names: list[str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], pa.string()) for _ in names], names=names)


def _decode_batch(batch: pa.RecordBatch, origin: str, first_row: int) -> SourceChunk:
    """Binary columns to text; rows with invalid UTF-8 are marked, not dropped."""
    arrays, bad_rows = [], {}
    for name, column in zip(batch.schema.names, batch.columns):
        try:
            arrays.append(column.cast(pa.string()))
        except pa.ArrowInvalid:
            values = []
            for index, raw in enumerate(column.to_pylist()):
                try:
                    values.append(None if raw is None else raw.decode("utf-8"))
                except UnicodeDecodeError as error:
                    text = raw.decode("utf-8", errors="backslashreplace")
                    values.append(text)
                    bad_rows.setdefault(index, RowProblem(
                        first_row + index, "INVALID_ENCODING", name,
                        f"{name}: not valid UTF-8 ({error.reason} at byte {error.start})", {},
                    ))
            arrays.append(pa.array(values, pa.string()))
    return SourceChunk(pa.RecordBatch.from_arrays(arrays, names=batch.schema.names), origin, first_row,
                       bad_rows=bad_rows)
