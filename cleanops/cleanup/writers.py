"""Which files some process has open for writing, read from /proc once per batch.

A file a process still holds open for writing is in use: unlinking it would send
everything written afterwards into an inode nobody can reach, and the archived copy
would be out of date the moment it was taken. `flock` only sees writers that lock, so
the open descriptors themselves are looked at: in /proc/<pid>/fd each entry is a link
whose permission bits show the descriptor's access mode (write bit = opened for
writing), and stat() through it gives the file's device and inode.

Only processes this user may inspect are seen (all of them as root); elsewhere than on
Linux the answer is empty and the checks that follow (flock, the sha256 re-check just
before the unlink) still apply.
"""

from __future__ import annotations

import os
import stat

PROC = "/proc"


def open_for_writing() -> dict[tuple[int, int], int]:
    """(st_dev, st_ino) of every regular file a visible process has open for writing -> one such pid."""
    found: dict[tuple[int, int], int] = {}
    try:
        pids = [name for name in os.listdir(PROC) if name.isdigit()]
    except OSError:
        return found
    for pid in pids:
        folder = f"{PROC}/{pid}/fd"
        try:
            descriptors = os.listdir(folder)
        except OSError:  # gone, or not ours to inspect
            continue
        for fd in descriptors:
            key = _written_file(f"{folder}/{fd}")
            if key is not None:
                found.setdefault(key, int(pid))
    return found


def _written_file(link: str) -> tuple[int, int] | None:
    try:
        if not os.lstat(link).st_mode & stat.S_IWUSR:
            return None
        info = os.stat(link)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None
