"""Compressed source files (gzip, bz2, zstd), recognised by their magic bytes and read as a
stream, while the file's raw bytes (as stored) go through the caller's sha256.

Magic bytes rather than the file name decide: a `.csv` that is really gzip still loads, and
a plain file named `.gz` is not mistaken for one.
"""

from __future__ import annotations

import bz2
import gzip
import io
import re
from pathlib import Path
from typing import BinaryIO

import zstandard

from cleanops.sources.base import SourceError

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# "BZh", the block size digit, then the magic of a first block or of an empty stream's end.
_BZIP2_MAGIC = re.compile(rb"BZh[1-9](?:\x31\x41\x59\x26\x53\x59|\x17\x72\x45\x38\x50\x90)")


class _HashingReader(io.RawIOBase):
    """A file's raw bytes, each seen once by `digest` as it is read."""

    def __init__(self, handle: BinaryIO, digest):
        self.handle, self.digest = handle, digest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # no copy through readinto: the common, uncompressed case
        block = self.handle.read(size)
        if block and self.digest is not None:
            self.digest.update(block)
        return block

    def readinto(self, buffer) -> int:
        count = self.handle.readinto(buffer)
        if count and self.digest is not None:
            self.digest.update(memoryview(buffer)[:count])
        return count or 0

    def drain(self) -> None:
        """Hash what the decompressor left unread (padding after the last frame)."""
        while self.read(1 << 20):
            pass


def compression_of(head: bytes) -> str | None:
    """'gzip', 'bz2', 'zstd' or None (not compressed), from a file's first bytes."""
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    if _BZIP2_MAGIC.match(head):
        return "bz2"
    return None


class DecompressedFile:
    """The uncompressed bytes of a file, compressed or not, read in blocks.

    Use as a context manager; `read(n)` returns up to n bytes, b"" at the end. Every raw
    byte of the file goes through `digest`, even bytes a decompressor does not need."""

    def __init__(self, path: Path, digest=None):
        self.path = path
        self._handle = open(path, "rb")
        self._raw = _HashingReader(self._handle, digest)
        head = self._handle.peek(16)[:16] if hasattr(self._handle, "peek") else b""
        self.compression = compression_of(head)
        self._stream: BinaryIO = self._open(self.compression)

    def _open(self, compression: str | None) -> BinaryIO:
        if compression == "gzip":
            return gzip.GzipFile(fileobj=self._raw, mode="rb")
        if compression == "bz2":
            return bz2.BZ2File(self._raw, mode="rb")
        if compression == "zstd":
            return zstandard.ZstdDecompressor().stream_reader(self._raw, read_across_frames=True)
        return self._raw

    def read(self, size: int) -> bytes:
        try:
            block = self._stream.read(size)
        except (OSError, EOFError, zstandard.ZstdError) as error:
            raise SourceError(f"{self.path}: cannot read the {self.compression} compressed data: {error}") \
                from error
        if not block:
            self._raw.drain()
        return block

    def __enter__(self) -> "DecompressedFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._stream is not self._raw:
            self._stream.close()
        self._handle.close()
