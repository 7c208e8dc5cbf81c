"""The filesystem blob store: package bodies kept once, content-addressed by SHA-256.

Layout under the root (normally ``<data-dir>/blobs``)::

    ab/cd/abcd…64 hex…     one file per distinct body, named by its SHA-256 hex digest
    tmp/                    bodies being written (same filesystem, so the rename is atomic)

Contract (``hub.ports.BlobStore``):

* **Durable before it returns.** A body is written to a temp file, ``fsync``-ed, renamed onto
  its final name, and the directory is ``fsync``-ed (POSIX ``rename(2)`` is atomic, but the new
  directory entry is only durable once the directory itself is synced). The intake writes the
  blob BEFORE the transaction that references its digest: an orphan blob is harmless; a row
  without its blob is impossible.
* **Idempotent.** Writing the same bytes twice stores one file; two writers racing on the same
  body both rename identical content onto the same name.
* **Streaming.** :meth:`put_stream` hashes and writes chunk by chunk, so a 50 MB body costs one
  chunk of memory; :meth:`open` returns a reader that checks the digest as it is read and raises
  when a corrupted file reaches its end.
* **Failures are ours.** A referenced digest whose file is missing or whose content no longer
  matches raises :class:`hub.errors.InternalError` (``blob.missing`` / ``blob.corrupt``); a write
  the filesystem refuses (disk or quota full, file-size limit, read-only, I/O error) raises
  ``blob.unwritable`` — a 503 the sender retries, with the temp file removed, so nothing is
  half-stored and nothing references a body that is not there; a
  string that is not a SHA-256 hex digest raises :class:`hub.errors.InvalidRequest` before any
  path is built from it (no path traversal through a digest).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from hub.errors import InternalError, InvalidRequest, PackageTooLarge

_DIGEST = re.compile(r"[0-9a-f]{64}")
CHUNK = 1 << 20  # 1 MiB: large enough for throughput, small enough to never matter for memory


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a lower-case SHA-256 hex string, else raise InvalidRequest."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise InvalidRequest(
            f"not a SHA-256 hex digest: {digest!r:.80}",
            message_vi="mã băm SHA-256 không hợp lệ",
            code="blob.digest_invalid",
        )
    return digest


def _missing(digest: str) -> InternalError:
    return InternalError(
        f"stored package body {digest} is missing",
        message_vi=f"không tìm thấy nội dung gói tin đã lưu {digest}",
        code="blob.missing",
        details={"digest": digest},
    )


def _unwritable(err: OSError) -> InternalError:
    reason = errno.errorcode.get(err.errno or 0, "EIO")
    return InternalError(
        f"cannot write a package body to the blob store ({reason}: {err.strerror})",
        message_vi=f"không ghi được nội dung gói tin vào kho lưu trữ ({reason})",
        code="blob.unwritable",
        details={"errno": reason},
    )


def _corrupt(digest: str, actual: str) -> InternalError:
    return InternalError(
        f"stored package body {digest} is corrupt (content hashes to {actual})",
        message_vi=f"nội dung gói tin đã lưu {digest} bị hỏng",
        code="blob.corrupt",
        details={"digest": digest, "actual": actual},
    )


class _VerifyingReader(io.RawIOBase):
    """A read-only stream over a blob file that hashes what is read and raises
    ``blob.corrupt`` when the end is reached and the content does not match its name."""

    def __init__(self, fh: BinaryIO, digest: str) -> None:
        super().__init__()
        self._fh = fh
        self._digest = digest
        self._hash = hashlib.sha256()
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        n = self._fh.readinto(buffer)  # type: ignore[attr-defined]
        if n:
            self._hash.update(memoryview(buffer)[:n])
        elif not self._checked:
            self._checked = True
            actual = self._hash.hexdigest()
            if actual != self._digest:
                raise _corrupt(self._digest, actual)
        return int(n or 0)

    def close(self) -> None:
        try:
            self._fh.close()
        finally:
            super().close()


class FileBlobStore:
    """Content-addressed package bodies in a directory tree (see the module docstring).

    ``fsync=False`` skips the syncs — only for throwaway test directories; a hub must keep it on.
    """

    inline_max_bytes = 0  # reads no package rows: every body is put here (see row_blobs)

    def __init__(self, root: Path | str, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self._fsync = fsync
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------------------ paths

    def path(self, digest: str) -> Path:
        """Where the blob ``digest`` lives (whether or not it exists)."""
        check_digest(digest)
        return self.root / digest[:2] / digest[2:4] / digest

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise _missing(digest) from None

    # ----------------------------------------------------------------------------- writes

    def put(self, data: bytes) -> str:
        """Store ``data`` durably; return its SHA-256 hex digest (idempotent)."""
        digest = hashlib.sha256(data).hexdigest()
        if self.exists(digest):
            return digest
        with self._temp() as (fh, tmp_path):
            fh.write(data)
            self._commit(fh, tmp_path, digest)
        return digest

    def put_stream(self, source: BinaryIO, *, max_size: int | None = None) -> tuple[str, int]:
        """Store everything ``source`` yields, chunk by chunk; return ``(digest, size)``.

        Memory stays at one chunk whatever the size. When ``max_size`` is given and the stream
        goes past it, the partial file is removed and :class:`hub.errors.PackageTooLarge`
        is raised (the HTTP layer streams a request body straight in here).
        """
        hasher = hashlib.sha256()
        size = 0
        with self._temp() as (fh, tmp_path):
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise PackageTooLarge(
                        f"body larger than {max_size} bytes",
                        message_vi=f"gói tin vượt quá {max_size} byte",
                        details={"max_size": max_size},
                    )
                hasher.update(chunk)
                fh.write(chunk)
            digest = hasher.hexdigest()
            if not self.exists(digest):
                self._commit(fh, tmp_path, digest)
        return digest, size

    @contextlib.contextmanager
    def _temp(self) -> Iterator[tuple[BinaryIO, Path]]:
        """A temp file to write a body into; an ``OSError`` of the write (ENOSPC, EDQUOT,
        EFBIG, EROFS, EIO — also raised by the close that flushes the buffer) becomes
        ``blob.unwritable`` after the temp file is gone."""
        try:
            fd, name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        except OSError as err:
            raise _unwritable(err) from err
        tmp_path = Path(name)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh, tmp_path
        except OSError as err:
            raise _unwritable(err) from err
        finally:
            # Gone when committed (renamed); removed here on error or when already stored.
            tmp_path.unlink(missing_ok=True)

    def _commit(self, fh: BinaryIO, tmp_path: Path, digest: str) -> None:
        fh.flush()
        if self._fsync:
            os.fsync(fh.fileno())
        final = self.path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_path, final)
        if self._fsync:
            self._sync_dir(final.parent)

    @staticmethod
    def _sync_dir(directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # ------------------------------------------------------------------------------ reads

    def get(self, digest: str) -> bytes:
        """The whole body, checked against its digest."""
        try:
            data = self.path(digest).read_bytes()
        except FileNotFoundError:
            raise _missing(digest) from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise _corrupt(digest, actual)
        return data

    def open(self, digest: str) -> BinaryIO:
        """A streaming reader of the body; the digest is checked when the end is read."""
        try:
            fh = self.path(digest).open("rb")
        except FileNotFoundError:
            raise _missing(digest) from None
        return io.BufferedReader(_VerifyingReader(fh, digest), buffer_size=CHUNK)

    def delete(self, digest: str) -> bool:
        """Remove a blob (retention jobs only, after its rows are gone); ``True`` if removed."""
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            return False
        return True
