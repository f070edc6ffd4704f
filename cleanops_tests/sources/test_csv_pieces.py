"""CSV files are cut into pieces at record boundaries: no row is split, lost or read twice,
however the pieces fall (quoted newlines, doubled quotes, CRLF, no final newline)."""

from __future__ import annotations

import csv
import io

import pytest

from cleanops.pipelines.schema import FileSource
from cleanops.sources import ReadContext, csv_files, files


def _rows_written(rows: list[list[str]], newline: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=newline).writerows(rows)
    return buffer.getvalue().encode()


def _read(path, piece_bytes, monkeypatch):
    monkeypatch.setattr(csv_files, "CSV_PIECE_BYTES", piece_bytes)
    source = FileSource(id="s", type="csv", path=str(path))
    chunks = list(files.read_files(source, ReadContext("p", path.parent)))
    rows = [row for chunk in chunks for row in chunk.batch.to_pylist()]
    problems = [problem for chunk in chunks for problem in chunk.problems]
    return rows, problems, chunks


@pytest.mark.parametrize("piece_bytes", [16, 37, 64, 1 << 20])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_every_row_read_once_whatever_the_piece_size(tmp_path, monkeypatch, piece_bytes, newline):
    body = [[str(i), f'note {i}' if i % 3 else f'multi\nline "{i}", quoted', "x" * (i % 7)] for i in range(1, 60)]
    path = tmp_path / "data.csv"
    data = _rows_written([["id", "note", "pad"], *body], newline)
    path.write_bytes(data if piece_bytes != 37 else data.rstrip(b"\r\n"))  # once without a final newline
    rows, problems, chunks = _read(path, piece_bytes, monkeypatch)
    assert not problems
    assert [(r["id"], r["note"], r["pad"]) for r in rows] == [tuple(r) for r in body]
    assert [c.first_row_number for c in chunks] == sorted({c.first_row_number for c in chunks})
    if piece_bytes < 100:
        assert len(chunks) > 1


def test_malformed_rows_keep_their_physical_line_across_pieces(tmp_path, monkeypatch):
    lines = ["id,name"] + [f"{i},n{i}" for i in range(1, 40)]
    lines[25] = "25,n25,extra"  # physical line 26
    lines[33] = "33"  # physical line 34
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    rows, problems, _ = _read(path, 40, monkeypatch)
    assert len(rows) + len(problems) == 39
    assert [(p.row_number, p.error_code) for p in problems] == [(26, "MALFORMED_ROW"), (34, "MALFORMED_ROW")]
    assert problems[0].message.startswith("line 26: expected 2 fields, found 3")


def test_a_record_longer_than_a_piece_is_read_whole(tmp_path, monkeypatch):
    path = tmp_path / "long.csv"
    path.write_text('id,text\n1,"' + "long\n" * 100 + '"\n2,short\n')
    rows, problems, _ = _read(path, 32, monkeypatch)
    assert not problems and [r["id"] for r in rows] == ["1", "2"] and rows[0]["text"].count("long") == 100
