"""A received package held in a file instead of memory: :class:`PackageFile`.

Contract: the HTTP layer spools a large request body into a temporary file while it arrives and
hashes it on the way (``adapters/http/gate.py``); it hands the intake a :class:`PackageFile`
(the open file, its size and its SHA-256) in place of the bytes. Every stage that reads a
package — the reader's streaming parse, the payload checks, the PDF check, the blob store —
accepts either form (:data:`Package`) and reads a file chunk by chunk, so a 100 MB attachment
is never held whole in memory.

Hazards:

* The file is shared by the stages, one after the other: each pass seeks to the start and
  reads at most :attr:`PackageFile.size` bytes. Two passes at once on one file would interleave
  their reads, so a :class:`PackageFile` belongs to one request (one thread) at a time.
* The core opens no file: whoever made the file closes it (the HTTP layer, after the push is
  answered); the temporary file disappears with it.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["CHUNK", "Package", "PackageFile", "package_digest", "package_size"]

#: Bytes per read when a package is streamed from its file.
CHUNK = 1 << 20


@dataclass(frozen=True, slots=True, eq=False)
class PackageFile:
    """A package of ``size`` bytes at the start of the seekable binary ``file``."""

    file: BinaryIO
    """Seekable, readable; the package is its first ``size`` bytes."""
    size: int
    """Length of the package in bytes."""
    sha256: str
    """Lower-case hex SHA-256 of the package, computed as the bytes were received."""

    def chunks(self, step: int = CHUNK) -> Iterator[bytes]:
        """The package from its first byte, ``step`` bytes at a time."""
        self.file.seek(0)
        left = self.size
        while left > 0:
            chunk = self.file.read(min(step, left))
            if not chunk:
                raise OSError(f"package file ended {left} bytes early")
            left -= len(chunk)
            yield chunk

    def head(self, n: int) -> bytes:
        """The first ``n`` bytes (fewer when the package is shorter)."""
        self.file.seek(0)
        return self.file.read(min(n, self.size))

    def reader(self) -> BinaryIO:
        """A binary stream of the package alone (from its first byte, ending at ``size``)."""
        return io.BufferedReader(_ChunksIO(self.chunks()), buffer_size=CHUNK)

    def read_all(self) -> bytes:
        """The whole package in memory (for the few checks that need one buffer)."""
        return b"".join(self.chunks())


class _ChunksIO(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if not self._left:
            self._left = next(self._chunks, b"")
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


#: A package as the intake receives it: its bytes, or a file holding them.
Package = bytes | PackageFile


def package_size(data: Package) -> int:
    """Length of ``data`` in bytes."""
    return data.size if isinstance(data, PackageFile) else len(data)


def package_digest(data: Package) -> str:
    """SHA-256 hex of ``data`` (a file's was computed when it was received)."""
    return data.sha256 if isinstance(data, PackageFile) else hashlib.sha256(data).hexdigest()
