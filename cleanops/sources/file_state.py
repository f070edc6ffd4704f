"""Whether a file stayed the same while a load read it.

A load records a file by the sha256 of what it read. If the file was appended to,
rewritten or replaced meanwhile, that hash matches neither the old file nor the new one:
recording it would reload the whole file next time (rows twice), recording the new one
would skip rows never read. So a file that changed is refused and the load rolls back.
"""

from __future__ import annotations

from pathlib import Path

from cleanops.sources.base import SourceError

FileState = tuple[int, int, int, int]  # size, mtime_ns, inode, device


def file_state(path: Path, source_id: str) -> FileState:
    """Size, modification time, inode and device: any change between two looks means the file moved under us."""
    try:
        stat = path.stat()
    except FileNotFoundError as error:
        raise SourceError(f"source {source_id!r}: {path} disappeared while the load was reading it") from error
    return stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev


def refuse_if_changed(path: Path, source_id: str, before: FileState) -> None:
    """Raise SourceError naming the file if it is no longer what it was when the load started reading it."""
    after = file_state(path, source_id)
    if after == before:
        return
    replaced = ", replaced by another file" if after[2:] != before[2:] else ""
    raise SourceError(
        f"source {source_id!r}: {path} changed while it was being read (size {before[0]} -> {after[0]} bytes"
        f"{replaced}); nothing of this load was committed. Run the load again once the file is complete "
        f"(write files elsewhere and move them into place)")
