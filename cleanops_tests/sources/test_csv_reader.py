"""The CSV reader on the files users hand it: stray quotes, compressed files, other
encodings, old Mac line endings; bad input fails with the file and the line, or is
quarantined row by row, and never merges rows silently."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json

import pytest
import zstandard
from click.testing import CliRunner

from cleanops.cli.main import cli
from cleanops.pipelines.schema import FileSource
from cleanops.sources import ReadContext, SourceError, csv_files, files


def read(path, monkeypatch=None, piece_bytes=None, **options):
    if piece_bytes is not None:
        monkeypatch.setattr(csv_files, "CSV_PIECE_BYTES", piece_bytes)
    context = ReadContext("p", path.parent)
    chunks = list(files.read_files(FileSource(id="s", type="csv", path=str(path), **options), context))
    rows = [row for chunk in chunks for row in chunk.batch.to_pylist()]
    problems = [problem for chunk in chunks for problem in chunk.problems]
    return rows, problems, context.files_seen


# --- Stray quotes --------------------------------------------------------------------

def test_unterminated_quote_never_merges_rows_silently(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(b'id,name\n1,"open quote\n2,b\n3,c\n')
    rows, problems, _ = read(path)
    assert rows == [{"id": "2", "name": "b"}, {"id": "3", "name": "c"}]
    assert [(p.row_number, p.error_code) for p in problems] == [(2, "MALFORMED_ROW")]
    assert "unterminated quote opened on line 2" in problems[0].message
    assert problems[0].raw == '1,"open quote\n'


def test_unterminated_quote_names_the_line_it_opened_on_in_a_multiline_record(tmp_path, monkeypatch):
    path = tmp_path / "q.csv"
    path.write_bytes(b'id,a,b\n1,x,y\n2,"two\nlines","oops\n3,p,q\n')
    rows, problems, _ = read(path, monkeypatch, piece_bytes=8)
    assert rows == [{"id": "1", "a": "x", "b": "y"}, {"id": "3", "a": "p", "b": "q"}]
    assert [p.row_number for p in problems] == [3]
    assert problems[0].message.startswith("line 3: unterminated quote opened on line 4")


def test_a_quoted_newline_still_loads_as_one_value(tmp_path, monkeypatch):
    path = tmp_path / "ok.csv"
    path.write_bytes(b'id,note\n1,"two\nlines, ""quoted"""\n2,"a"\n')
    rows, problems, _ = read(path, monkeypatch, piece_bytes=4)
    assert not problems
    assert rows == [{"id": "1", "note": 'two\nlines, "quoted"'}, {"id": "2", "note": "a"}]


def test_a_quote_inside_an_unquoted_value_is_just_a_character(tmp_path, monkeypatch):
    path = tmp_path / "inch.csv"
    path.write_bytes(b'id,size\n1,5" screen\n2,"x"y"\n3,ok\n')
    rows, problems, _ = read(path, monkeypatch, piece_bytes=5)
    assert not problems
    assert rows == [{"id": "1", "size": '5" screen'}, {"id": "2", "size": 'xy"'}, {"id": "3", "size": "ok"}]


def test_stray_quote_in_a_million_row_file_loads_in_linear_time(tmp_path):
    """The stray quote on line 3 keeps the rest of the file from ending a record: it is
    dropped once the record passes MAX_RECORD_BYTES, and every other row loads."""
    path = tmp_path / "big.csv"
    lines = [b"id,name,flag"] + [b"%d,name %d,x" % (i, i) for i in range(1, 1_000_001)]
    lines[3] = b'3,"stray,x'
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert path.stat().st_size > csv_files.MAX_RECORD_BYTES
    rows, problems, _ = read(path)
    assert len(rows) == 999_999 and rows[2] == {"id": "4", "name": "name 4", "flag": "x"}
    assert [(p.row_number, p.error_code) for p in problems] == [(4, "MALFORMED_ROW")]
    assert "unterminated quote opened on line 4" in problems[0].message
    assert "not closed within 16 MiB" in problems[0].message


def test_an_unterminated_quote_in_the_header_fails_the_file(tmp_path):
    path = tmp_path / "h.csv"
    path.write_bytes(b'id,"name\n1,a\n')
    with pytest.raises(SourceError, match=r"h\.csv: the header row \(line 1\) has an unterminated quote"):
        read(path)


def test_a_line_longer_than_the_record_limit_fails_naming_file_and_line(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_files, "MAX_RECORD_BYTES", 1000)
    path = tmp_path / "long.csv"
    path.write_bytes(b"id,text\n1,a\n2," + b"x" * 5000)
    with pytest.raises(SourceError, match=r"long\.csv: line 3 is longer than"):
        read(path, monkeypatch, piece_bytes=64)


def test_the_record_limit_counts_the_line_end(tmp_path, monkeypatch):
    """Found by the hostile-bytes property: a 16-byte line plus CRLF passes a 16-byte limit."""
    monkeypatch.setattr(csv_files, "MAX_RECORD_BYTES", 16)
    path = tmp_path / "edge.csv"
    path.write_bytes(b"a,b\n" + b"a" * 14 + b"\r\n" + b"x,y\n")
    assert read(path, monkeypatch, piece_bytes=1)[0][-1] == {"a": "x", "b": "y"}
    path.write_bytes(b"a,b\n" + b"a" * 16 + b"\r\n")
    with pytest.raises(SourceError, match=r"edge\.csv: line 2 is longer than 16 bytes"):
        read(path, monkeypatch, piece_bytes=1)


def test_a_quoted_record_over_the_limit_across_lines_is_quarantined_not_a_failed_file(tmp_path, monkeypatch):
    """Found by the hostile-bytes property: no line is over the limit, but a quoted line end
    joins two lines into one record that is: its first line is quarantined, the rest read."""
    monkeypatch.setattr(csv_files, "MAX_RECORD_BYTES", 16)
    path = tmp_path / "joined.csv"
    path.write_bytes(b'a,b\n' + b'aaaaaaaaaaaa,"\r\n"')
    rows, problems, _ = read(path, monkeypatch, piece_bytes=1)
    assert problems[0].error_code == "MALFORMED_ROW" and problems[0].row_number == 2
    assert "quoted field opened on line 2" in problems[0].message
    assert len(rows) + len(problems) >= 1


def test_a_malformed_row_after_a_quoted_line_end_is_numbered_by_its_own_line(tmp_path, monkeypatch):
    """Found by the round-trip property: a row's text also found inside an earlier quoted
    field (`""` after a quoted CR) was numbered by that earlier place."""
    path = tmp_path / "lines.csv"
    path.write_bytes(b'x,y,z\n"","\r""\r"\n""\n""')
    _, problems, _ = read(path, monkeypatch, piece_bytes=1)
    assert [p.row_number for p in problems] == [2, 5, 6]


# --- Compression ---------------------------------------------------------------------

CONTENT = b'id,name\n1,alpha\n2,"multi\nline"\n3,gamma\n'
EXPECTED = [{"id": "1", "name": "alpha"}, {"id": "2", "name": "multi\nline"}, {"id": "3", "name": "gamma"}]
COMPRESSORS = {"gz": gzip.compress, "bz2": bz2.compress, "zst": zstandard.ZstdCompressor().compress}


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_compressed_csv_is_read_as_a_stream_and_hashed_as_stored(tmp_path, monkeypatch, suffix):
    stored = COMPRESSORS[suffix](CONTENT)
    path = tmp_path / f"data.csv.{suffix}"
    path.write_bytes(stored)
    rows, problems, seen = read(path, monkeypatch, piece_bytes=7)
    assert rows == EXPECTED and not problems
    assert seen[0]["sha256"] == hashlib.sha256(stored).hexdigest()


def test_compression_is_recognised_by_its_magic_bytes_not_its_name(tmp_path):
    path = tmp_path / "really_gzip.csv"
    path.write_bytes(gzip.compress(CONTENT))
    assert read(path)[0] == EXPECTED


def test_a_truncated_gzip_file_fails_naming_the_file(tmp_path):
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(gzip.compress(CONTENT * 100)[:-30])
    with pytest.raises(SourceError, match=r"cut\.csv\.gz: cannot read the gzip compressed data"):
        read(path)


# --- Encodings -----------------------------------------------------------------------

@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be", "utf-8"])
def test_a_byte_order_mark_is_detected_and_decoded(tmp_path, monkeypatch, codec):
    bom = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff", "utf-32-le": b"\xff\xfe\x00\x00",
           "utf-32-be": b"\x00\x00\xfe\xff", "utf-8": b"\xef\xbb\xbf"}[codec]
    path = tmp_path / "bom.csv"
    path.write_bytes(bom + "id,name\n1,café\n2,\"naïve\nzürich\"\n".encode(codec))
    rows, problems, _ = read(path, monkeypatch, piece_bytes=6)
    assert not problems
    assert rows == [{"id": "1", "name": "café"}, {"id": "2", "name": "naïve\nzürich"}]


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "ISO-8859-15"])
def test_a_declared_encoding_is_decoded(tmp_path, monkeypatch, encoding):
    text = "id,name\n1,Müller\n2,François\n" + ("3,€ 5\n" if encoding != "latin-1" else "3,£ 5\n")
    path = tmp_path / "legacy.csv"
    path.write_bytes(text.encode(encoding))
    rows, problems, _ = read(path, monkeypatch, piece_bytes=5, encoding=encoding)
    assert not problems
    assert [r["name"] for r in rows] == ["Müller", "François", "€ 5" if encoding != "latin-1" else "£ 5"]


def test_an_undecodable_byte_names_file_line_and_byte_offset(tmp_path, monkeypatch):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,name\n1,ok\n2,caf\xe9\n3,\x81\n")  # 0x81 has no cp1252 character
    with pytest.raises(SourceError, match=r"bad\.csv: line 4, byte offset 22: not valid cp1252"):
        read(path, monkeypatch, piece_bytes=4, encoding="cp1252")


def test_utf8_stays_the_default_and_bad_bytes_quarantine_only_their_row(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"id,name\n1,caf\xe9\n2,ok\n")
    chunks = list(files.read_files(FileSource(id="s", type="csv", path=str(path)), ReadContext("p", tmp_path)))
    assert [r["name"] for chunk in chunks for r in chunk.batch.to_pylist()] == ["caf\\xe9", "ok"]
    assert [(p.row_number, p.error_code) for p in chunks[0].bad_rows.values()] == [(1, "INVALID_ENCODING")]


# --- Line endings --------------------------------------------------------------------

def test_cr_only_line_endings_are_read_as_lines(tmp_path, monkeypatch):
    path = tmp_path / "mac.csv"
    path.write_bytes(b'id,name\r1,a\r2,"b\rc"\r3,x,extra\r4,d')
    rows, problems, _ = read(path, monkeypatch, piece_bytes=5)
    assert rows == [{"id": "1", "name": "a"}, {"id": "2", "name": "b\rc"}, {"id": "4", "name": "d"}]
    assert [(p.row_number, p.error_code) for p in problems] == [(5, "MALFORMED_ROW")]


def test_a_crlf_in_a_cr_file_ends_one_line_even_split_between_pieces(tmp_path, monkeypatch):
    """Found by the hostile-bytes property: with the CR of a CRLF ending one piece, the LF
    starting the next was counted as a line of its own."""
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"a,b\r\r\n\xff")
    _, problems, _ = read(path, monkeypatch, piece_bytes=1)
    assert [(p.row_number, p.message) for p in problems] == [(3, "line 3: expected 2 fields, found 1")]


# --- Options refused at validate -----------------------------------------------------

@pytest.mark.parametrize("option, value", [
    ("delimiter", "\n"), ("delimiter", "\r"), ("delimiter", '"'), ("delimiter", "a"), ("delimiter", "\x00"),
    ("delimiter", "§"), ("encoding", "klingon"), ("encoding", "base64"),
])
def test_unusable_csv_options_are_refused_at_validate_naming_the_field(tmp_path, option, value):
    spec = {"pipeline_id": "csv-options", "data_sources": [
        {"id": "src", "type": "csv", "path": "data/x.csv", option: value}]}
    pipeline = tmp_path / "p.json"
    pipeline.write_text(json.dumps(spec))
    result = CliRunner().invoke(cli, ["pipelines", "validate", str(pipeline)])
    assert result.exit_code == 1
    assert f"p.json: data_sources[0].{option}: " in result.output, result.output


@pytest.mark.parametrize("option, value", [("delimiter", "\t"), ("delimiter", ";"), ("delimiter", " "),
                                           ("encoding", "latin-1"), ("encoding", "UTF-16")])
def test_usable_csv_options_pass_validate(tmp_path, option, value):
    spec = {"pipeline_id": "csv-options", "data_sources": [
        {"id": "src", "type": "csv", "path": "data/x.csv", option: value}]}
    pipeline = tmp_path / "p.json"
    pipeline.write_text(json.dumps(spec))
    result = CliRunner().invoke(cli, ["pipelines", "validate", str(pipeline)])
    assert result.exit_code == 0, result.output
