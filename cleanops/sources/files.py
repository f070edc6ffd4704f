"""File sources: CSV, JSON, JSON Lines and Parquet, one path or a glob.

CSV is read by cleanops.sources.csv_files, in pieces, so that memory stays flat and a bad
row is quarantined on its own instead of failing the whole file.
"""

from __future__ import annotations

import glob
import hashlib
from pathlib import Path
from typing import Iterator

from cleanops.pipelines import boundaries
from cleanops.pipelines.schema import FileSource
from cleanops.sources.base import ReadContext, SourceChunk, SourceError
from cleanops.sources.csv_files import read_csv as _read_csv
from cleanops.sources.file_state import file_state, refuse_if_changed
from cleanops.sources.json_files import read_json as _read_json
from cleanops.sources.json_files import read_jsonl as _read_jsonl
from cleanops.sources.parquet_files import read_parquet as _read_parquet


def resolve_files(source: FileSource, base_dir: Path) -> list[Path]:
    """The files a path or glob names, relative to the pipeline file's folder.

    Every file must resolve inside the source roots (cleanops.pipelines.boundaries): checked
    here again, at read time, because a symlink can be changed after the file was validated.
    """
    pattern = Path(source.path).expanduser()
    if not pattern.is_absolute():
        pattern = base_dir / pattern
    is_glob = glob.has_magic(str(pattern))
    files = sorted(Path(p) for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file()) \
        if is_glob else [pattern]
    try:
        boundaries.check_inside_roots(files, base_dir, f"source {source.id!r}")
    except boundaries.OutsideRootsError as error:
        raise SourceError(str(error)) from error
    if not is_glob and not pattern.exists():
        raise SourceError(f"source {source.id!r}: file not found: {pattern}")
    if not is_glob and not pattern.is_file():
        raise SourceError(f"source {source.id!r}: not a file: {pattern}")
    return files


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_files(source: FileSource, context: ReadContext) -> Iterator[SourceChunk]:
    """Every new file of the source, in name order; files loaded before are skipped.

    A file that changes while it is hashed or read (appended, rewritten, replaced) is
    refused with a SourceError naming it: what was read is neither the old file nor the new
    one, so recording either hash would load rows twice or lose them. The load then rolls
    back and records nothing; the next run reads the finished file whole.
    """
    readers = {"csv": _read_csv, "json": _read_json, "jsonl": _read_jsonl, "parquet": _read_parquet}
    for path in resolve_files(source, context.base_dir):
        before = file_state(path, source.id)
        entry = {"path": str(path), "sha256": None, "size_bytes": before[0], "skipped": False}
        context.files_seen.append(entry)
        if source.type == "csv" and before[0] not in context.skip_sizes:
            # No file loaded before has this size, so this one is new: hash it while reading
            # it instead of in a pass of its own before the load starts.
            digest = hashlib.sha256()
            yield from _read_csv(path, source, context, digest)
            entry["sha256"] = digest.hexdigest()
        else:
            entry["sha256"] = file_sha256(path)
            if entry["sha256"] in context.skip_fingerprints:
                entry["skipped"] = True
            else:
                yield from readers[source.type](path, source, context)
        refuse_if_changed(path, source.id, before)
