"""The database blob store: package bodies in PostgreSQL (or SQLite), for several hub nodes.

Why: the filesystem store (:mod:`adapters.store.blobs`) needs one filesystem shared by every
node that serves pulls. Keeping the bodies in the database instead needs no new server: they
are replicated, backed up and failed over with it. Selected by ``blobs.store: database``.

Layout: ``blob_chunks(digest, seq, data)`` holds a body in chunks of :data:`CHUNK` bytes, and
``blobs(digest, size, chunks)`` names the complete bodies. Contract as
:class:`hub.ports.BlobStore`:

* **Durable before it returns**: one transaction of its own inserts the chunks and then the
  ``blobs`` row, and commits; a body exists only once its row does (a crash half-way leaves
  nothing visible, and the next put of the same bytes writes it again).
* **Idempotent**: a body already stored is not written again; two writers racing on the same
  body both succeed (``ON CONFLICT DO NOTHING``).
* **Streaming**: :meth:`put_stream` inserts chunk by chunk (memory: one chunk) and
  :meth:`open` reads chunk by chunk, checking the digest at the end like the file store.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from adapters.store.blobs import CHUNK, _corrupt, _missing, check_digest
from adapters.store.engine import reading, translate_errors
from adapters.store.tables import blob_chunks, blobs
from hub.errors import PackageTooLarge


class _ChunkReader(io.RawIOBase):
    """Reads a stored body chunk by chunk, each in a short query; raises ``blob.corrupt`` at the
    end when the content does not hash to its digest."""

    def __init__(self, engine: Engine, digest: str, chunks: int) -> None:
        super().__init__()
        self._engine = engine
        self._digest = digest
        self._chunks = chunks
        self._next = 0
        self._buffer = b""
        self._hasher = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if not self._buffer and self._next < self._chunks:
            with translate_errors("reading a stored body"), reading(self._engine) as conn:
                data = conn.execute(
                    sa.select(blob_chunks.c.data)
                    .where(blob_chunks.c.digest == self._digest)
                    .where(blob_chunks.c.seq == self._next)
                ).scalar_one_or_none()
            if data is None:
                raise _missing(self._digest)
            self._next += 1
            self._buffer = bytes(data)
            self._hasher.update(self._buffer)
            if self._next == self._chunks and self._hasher.hexdigest() != self._digest:
                raise _corrupt(self._digest, self._hasher.hexdigest())
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


class DatabaseBlobStore:
    """Content-addressed package bodies in the database (see the module docstring)."""

    inline_max_bytes = 0  # reads no package rows: every body is put here (see row_blobs)

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Reads take no write lock (SQLite: a deferred BEGIN; PostgreSQL ignores the option):
        # a fetch reads a body while its own unit of work holds SQLite's write lock, and an
        # IMMEDIATE read would wait for that lock until it timed out.
        self._reader = engine.execution_options(sqlite_begin="DEFERRED")
        dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
        self._insert_chunk = dialect.insert(blob_chunks).on_conflict_do_nothing()
        self._insert_blob = dialect.insert(blobs).on_conflict_do_nothing()

    def _row(self, digest: str) -> tuple[int, int] | None:
        check_digest(digest)
        with translate_errors("reading a stored body"), reading(self._reader) as conn:
            row = conn.execute(
                sa.select(blobs.c.size, blobs.c.chunks).where(blobs.c.digest == digest)
            ).one_or_none()
        return None if row is None else (int(row.size), int(row.chunks))

    def exists(self, digest: str) -> bool:
        return self._row(digest) is not None

    def size(self, digest: str) -> int:
        row = self._row(digest)
        if row is None:
            raise _missing(digest)
        return row[0]

    # ----------------------------------------------------------------------------- writes

    def put(self, data: bytes) -> str:
        """Store ``data`` durably; return its SHA-256 hex digest (idempotent)."""
        digest, _ = self.put_stream(io.BytesIO(data))
        return digest

    def put_stream(self, source: BinaryIO, *, max_size: int | None = None) -> tuple[str, int]:
        """Store everything ``source`` yields, chunk by chunk, in one transaction; return
        ``(digest, size)``. Past ``max_size``: :class:`PackageTooLarge`, nothing stored.

        The chunks are written under a provisional key (the digest is known only at the end)
        and renamed to the digest before the commit.
        """
        hasher = hashlib.sha256()
        size = 0
        seq = 0
        pending = f"pending-{uuid.uuid4().hex}"  # never a SHA-256 hex digest
        with translate_errors("storing a body"), self._engine.begin() as conn:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise PackageTooLarge(
                        f"body larger than {max_size} bytes",
                        message_vi=f"gói tin vượt quá {max_size} byte",
                        details={"max_size": max_size},
                    )
                hasher.update(chunk)
                conn.execute(self._insert_chunk.values(digest=pending, seq=seq, data=chunk))
                seq += 1
            digest = hasher.hexdigest()
            self._settle(conn, pending, digest, size, seq)
        return digest, size

    def _settle(self, conn: Connection, pending: str, digest: str, size: int, chunks: int) -> None:
        """Give the provisional chunks their digest, unless the body is already stored.

        Writers of the same body take turns here (on PostgreSQL a transaction-scoped advisory
        lock on the digest; SQLite has one writer at a time anyway), so the second one sees the
        first one's committed row and drops its own chunks."""
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(int(digest[:15], 16))))
        stored = conn.execute(sa.select(blobs.c.digest).where(blobs.c.digest == digest)).first()
        if stored is not None:
            conn.execute(sa.delete(blob_chunks).where(blob_chunks.c.digest == pending))
            return
        # A writer that died half-way may have left chunks under this digest: replace them.
        conn.execute(sa.delete(blob_chunks).where(blob_chunks.c.digest == digest))
        conn.execute(
            sa.update(blob_chunks).where(blob_chunks.c.digest == pending).values(digest=digest)
        )
        conn.execute(self._insert_blob.values(digest=digest, size=size, chunks=chunks))

    # ------------------------------------------------------------------------------ reads

    def get(self, digest: str) -> bytes:
        """The whole body, checked against its digest."""
        with self.open(digest) as fh:
            return fh.read()

    def open(self, digest: str) -> BinaryIO:
        """A streaming reader of the body; the digest is checked when the end is read."""
        row = self._row(digest)
        if row is None:
            raise _missing(digest)
        return io.BufferedReader(_ChunkReader(self._reader, digest, row[1]), buffer_size=CHUNK)

    def delete(self, digest: str) -> bool:
        """Remove a body (retention jobs only, after its rows are gone); ``True`` if removed."""
        check_digest(digest)
        with translate_errors("deleting a stored body"), self._engine.begin() as conn:
            gone = conn.execute(sa.delete(blobs).where(blobs.c.digest == digest)).rowcount
            conn.execute(sa.delete(blob_chunks).where(blob_chunks.c.digest == digest))
        return bool(gone)
