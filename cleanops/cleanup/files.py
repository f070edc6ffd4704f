"""Files: find expired files under a policy's roots, and delete one safely.

Like systemd-tmpfiles, the scanner never follows a symbolic link (links are neither
followed nor deleted), never crosses into another file system, and works on bytes
paths so names with spaces, newlines or bytes that are not UTF-8 are handled as they are.

Deletion re-opens each file through directory descriptors opened with O_NOFOLLOW from
the root down, so a folder swapped for a link after the scan cannot redirect it; the
file is skipped when its size, mtime or inode changed since the scan, when another
process holds an flock on it or has it open for writing, or when its content no longer
matches the archived copy just before the unlink.
"""

from __future__ import annotations

import errno
import fcntl
import fnmatch
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from cleanops.cleanup.archive import hash_fd
from cleanops.cleanup.models import Candidate
from cleanops.cleanup.policies import Policy, validate_pattern
from cleanops.cleanup.writers import open_for_writing

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def scan_policy(policy: Policy, cutoff_ns: int) -> Iterator[Candidate]:
    """Every regular file under the policy's roots that matches a pattern and is older than the cutoff."""
    patterns = [os.fsencode(validate_pattern(p)) for p in policy.patterns] or [b"*"]
    for root in policy.expanded_roots():
        reason = f"older than {policy.retention_days:g} days (mtime before cutoff) under {root}"
        yield from scan_root(os.fsencode(root), patterns, cutoff_ns, policy.data_type, reason)


def scan_root(root: bytes, patterns: list[bytes], cutoff_ns: int, data_type: str, reason: str,
              owner: str | None = None, match_all_ages: bool = False) -> Iterator[Candidate]:
    try:
        root_stat = os.lstat(root)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(root_stat.st_mode):  # a root that is a link (or a file) is never entered
        return
    pending = [b""]
    while pending:
        relative_dir = pending.pop()
        try:
            with os.scandir(os.path.join(root, relative_dir) if relative_dir else root) as entries:
                listing = sorted(entries, key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        subdirs = []
        for entry in listing:
            relative = relative_dir + b"/" + entry.name if relative_dir else entry.name
            if entry.is_symlink():
                continue
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                if info.st_dev == root_stat.st_dev:
                    subdirs.append(relative)
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            if not match_all_ages and info.st_mtime_ns >= cutoff_ns:
                continue
            if not any(fnmatch.fnmatchcase(relative, p) for p in patterns):
                continue
            path = os.fsdecode(os.path.join(root, relative))
            yield Candidate(data_type=data_type, kind="file", key=path, reason=reason, size=info.st_size,
                            path=path, root=os.fsdecode(root), mtime_ns=info.st_mtime_ns, ino=info.st_ino,
                            dev=info.st_dev, owner=owner)
        pending.extend(reversed(subdirs))


def scan_duplicates(policy: Policy, cutoff_ns: int) -> Iterator[Candidate]:
    """Files whose content (sha256) equals an older file's under the same roots.

    The oldest copy (then the first by path) is the original and always stays; a later
    copy is a candidate once it is older than the cutoff. Only files sharing a size are
    hashed, so most files are never read.
    """
    patterns = [os.fsencode(validate_pattern(p)) for p in policy.patterns] or [b"*"]
    by_size: dict[int, list[Candidate]] = {}
    for root in policy.expanded_roots():
        for candidate in scan_root(os.fsencode(root), patterns, 0, policy.data_type, "", match_all_ages=True):
            by_size.setdefault(candidate.size, []).append(candidate)
    for size in sorted(by_size):
        group = by_size[size]
        if len(group) < 2:
            continue
        by_hash: dict[str, list[Candidate]] = {}
        for candidate in group:
            try:
                by_hash.setdefault(_sha256(candidate.path), []).append(candidate)
            except OSError:
                continue
        for digest, same in sorted(by_hash.items()):
            if len(same) < 2:
                continue
            same.sort(key=lambda c: (c.mtime_ns, os.fsencode(c.path)))
            original = same[0]
            for copy in same[1:]:
                if copy.mtime_ns >= cutoff_ns:
                    continue
                copy.reason = (f"duplicate of {original.display} (sha256 {digest[:12]}), "
                               f"older than {policy.retention_days:g} days")
                copy.extra = {"sha256": digest, "original": original.path, "original_ino": original.ino,
                              "original_size": original.size, "original_mtime_ns": original.mtime_ns}
                copy.key = copy.path
                yield copy


def _sha256(path: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(os.fsencode(path), "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW)) as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def original_unchanged(candidate: Candidate) -> bool:
    """A duplicate may go only while the copy it duplicates is still there, unchanged."""
    extra = candidate.extra
    try:
        info = os.lstat(os.fsencode(extra["original"]))
    except FileNotFoundError:
        return False
    return stat.S_ISREG(info.st_mode) and (info.st_ino, info.st_size, info.st_mtime_ns) == \
        (extra["original_ino"], extra["original_size"], extra["original_mtime_ns"])


class DirectoryHandles:
    """Directory descriptors opened from a root down with O_NOFOLLOW, kept for one batch."""

    def __init__(self) -> None:
        self._open: dict[tuple[bytes, bytes], int] = {}

    def open(self, root: bytes, relative_dir: bytes) -> int:
        key = (root, relative_dir)
        if key in self._open:
            return self._open[key]
        fd = os.open(root, DIR_FLAGS)
        try:
            for part in relative_dir.split(b"/") if relative_dir else []:
                next_fd = os.open(part, DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = next_fd
        except OSError:
            os.close(fd)
            raise
        self._open[key] = fd
        return fd

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()


@dataclass
class FileOutcome:
    status: str             # deleted | skipped | failed
    detail: str = ""
    archived: dict | None = None  # the manifest entry when archived


@dataclass
class HeldFile:
    """A file checked against the scan, opened and flock-ed, ready to unlink."""

    candidate: Candidate
    dir_fd: int
    name: bytes
    fd: int
    info: os.stat_result
    archived: dict | None = None


def split(candidate: Candidate) -> tuple[bytes, bytes, bytes]:
    """(root, folder relative to root, file name) as bytes; refuses a path outside its root."""
    root = os.fsencode(candidate.root)
    path = os.fsencode(candidate.path)
    if not path.startswith(root.rstrip(b"/") + b"/"):
        raise ValueError(f"{candidate.display} is not under its root")
    relative = path[len(root.rstrip(b"/")) + 1:]
    if b".." in relative.split(b"/"):
        raise ValueError(f"{candidate.display} contains '..'")
    folder, _, name = relative.rpartition(b"/")
    return root, folder, name


def hold(candidate: Candidate, handles: DirectoryHandles, archiver=None,
         writers: dict[tuple[int, int], int] | None = None) -> HeldFile | FileOutcome:
    """Open, re-check and lock one file, and archive it; the caller unlinks it once the archive is durable.

    `writers` maps (device, inode) of files some process has open for writing to that
    process id: such a file is still in use, and deleting it would lose what it writes next.
    """
    try:
        root, folder, name = split(candidate)
        dir_fd = handles.open(root, folder)
    except FileNotFoundError:
        return FileOutcome("skipped", "already gone")
    except (OSError, ValueError) as error:
        return FileOutcome("failed", f"cannot open its folder without following links: {error}")
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return FileOutcome("skipped", "already gone")
    except OSError as error:
        if error.errno == errno.ELOOP:
            return FileOutcome("skipped", "became a symbolic link after the scan")
        return FileOutcome("failed", f"cannot open: {error}")
    try:
        info = os.fstat(fd)
        refusal = _still_deletable(candidate, fd, info, writers or {})
        if refusal:
            os.close(fd)
            return FileOutcome("skipped", refusal)
        entry = archiver.add(candidate, fd, info) if archiver is not None else None
        return HeldFile(candidate, dir_fd, name, fd, info, entry)
    except OSError as error:
        os.close(fd)
        return FileOutcome("failed", str(error))


def _still_deletable(candidate: Candidate, fd: int, info: os.stat_result,
                     writers: dict[tuple[int, int], int]) -> str | None:
    """Why the opened file must be kept (changed, in use), or None; takes its flock when not."""
    if not stat.S_ISREG(info.st_mode) or (info.st_ino, info.st_size, info.st_mtime_ns) != \
            (candidate.ino, candidate.size, candidate.mtime_ns):
        return "modified after the scan"
    writer = writers.get((info.st_dev, info.st_ino))
    if writer is not None:
        return f"open for writing by process {writer}"
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return "locked by another process (flock)"
    return None


def unlink_held(held: HeldFile, archiver=None) -> FileOutcome:
    """Unlink a held file if its name still points at the inode we checked and its content is still
    what was archived; always releases it. A file that changed is kept and its copy withdrawn."""
    try:
        if os.stat(held.name, dir_fd=held.dir_fd, follow_symlinks=False).st_ino != held.info.st_ino:
            return _kept(held, archiver, "replaced after the scan")
        changed = _changed_since_archived(held)
        if changed:
            return _kept(held, archiver, changed)
        os.unlink(held.name, dir_fd=held.dir_fd)
        return FileOutcome("deleted", archived=held.archived)
    except FileNotFoundError:
        return _kept(held, archiver, "already gone")
    except OSError as error:
        return _kept(held, archiver, str(error), status="failed")
    finally:
        os.close(held.fd)


def _changed_since_archived(held: HeldFile) -> str | None:
    now = os.fstat(held.fd)
    if (now.st_size, now.st_mtime_ns, now.st_ctime_ns) != \
            (held.info.st_size, held.info.st_mtime_ns, held.info.st_ctime_ns):
        return "changed while it was being archived; kept"
    if held.archived is not None and hash_fd(held.fd) != held.archived["sha256"]:
        return "content no longer matches its archived copy; kept"
    return None


def _kept(held: HeldFile, archiver, reason: str, status: str = "skipped") -> FileOutcome:
    if archiver is not None and held.archived is not None:
        archiver.withdraw(held.archived, reason)
    return FileOutcome(status, reason)


def delete_batch(candidates: list[Candidate], archiver=None) -> list[FileOutcome]:
    """Hold every file of the batch, make the archive durable, then unlink: a crash at any
    point leaves each file either in place or archived and listed in the manifest."""
    handles = DirectoryHandles()
    writers = open_for_writing() if candidates else {}
    try:
        held = [hold(c, handles, archiver, writers) for c in candidates]
        if archiver is not None:
            archiver.sync()
        return [unlink_held(h, archiver) if isinstance(h, HeldFile) else h for h in held]
    finally:
        handles.close()
