"""Small package bodies in their ``packages`` row, larger ones in the blob store behind it.

Why (issue 11, ``bench/RESULTS-hub.md``): a status message of 5 KB written to the file store
cost a temp file, two fsyncs and a rename — ≈ 0.9 ms of CPU and ≈ 27 ms of wall per push,
before its transaction even began. Written into its package row instead, the body rides in the
INSERT the push makes anyway, and the commit that makes the push durable makes its body
durable too.

Theory of operation. :class:`RowBlobStore` is the hub's :class:`hub.ports.BlobStore` when
``blobs.inline_max_bytes`` is above 0: it wraps the configured store (file or database) and
announces the limit as :attr:`inline_max_bytes`. The intake puts nothing here for a body of at
most that size; it hands the bytes to ``uow.packages.add`` (``PackageRow.body``). Larger bodies
and every other writer go through :meth:`put`/:meth:`put_stream` to the wrapped store, as
before. Every reader — pull, REST fetch, evidence export, redrive, forwarding, trace, CLI —
keeps calling ``get``/``open``/``size``/``exists``: each looks at the row first (one primary
key read) and falls back to the wrapped store when the row has no body (a large body, or one
stored before migration 0020). The digest is checked on every read, as the file store does.

Idempotency is the row's: the package row is keyed by digest and inserted ``ON CONFLICT DO
NOTHING``, so the same bytes pushed again (by any system) keep the first row and its body.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.store.blobs import _corrupt, check_digest
from adapters.store.engine import reading, translate_errors
from adapters.store.tables import packages
from hub.ports import BlobStore

_BODY = sa.select(packages.c.body).where(
    packages.c.digest == sa.bindparam("digest"), packages.c.body.is_not(None)
)
_SIZE = sa.select(packages.c.size).where(
    packages.c.digest == sa.bindparam("digest"), packages.c.body.is_not(None)
)


class RowBlobStore:
    """Bodies of at most ``inline_max_bytes`` read from ``packages.body``, the others from
    ``inner`` (see the module docstring)."""

    def __init__(self, engine: Engine, inner: BlobStore, inline_max_bytes: int) -> None:
        if inline_max_bytes < 0:
            raise ValueError("inline_max_bytes must be 0 or more")
        # Reads only: on SQLite a DEFERRED transaction, so a read never waits for the write lock
        # (the pull reads a body while its own unit of work may hold that lock).
        self._engine = engine.execution_options(sqlite_begin="DEFERRED")
        self.inner = inner
        """Where bodies above the limit (and those stored before 0020) live."""
        self.inline_max_bytes = inline_max_bytes

    def _scalar(self, stmt: sa.Select[Any], digest: str) -> Any:
        check_digest(digest)
        with translate_errors("reading a stored body"), reading(self._engine) as conn:
            return conn.execute(stmt, {"digest": digest}).scalar_one_or_none()

    def _in_row(self, digest: str) -> bytes | None:
        body = self._scalar(_BODY, digest)
        if body is None:
            return None
        data = bytes(body)
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise _corrupt(digest, actual)
        return data

    # ----------------------------------------------------------------------------- writes

    def put(self, data: bytes) -> str:
        """Store ``data`` in the wrapped store (the push writes small bodies in its row)."""
        return self.inner.put(data)

    def put_stream(self, source: BinaryIO, *, max_size: int | None = None) -> tuple[str, int]:
        return self.inner.put_stream(source, max_size=max_size)

    # ------------------------------------------------------------------------------ reads

    def get(self, digest: str) -> bytes:
        data = self._in_row(digest)
        return data if data is not None else self.inner.get(digest)

    def open(self, digest: str) -> BinaryIO:
        data = self._in_row(digest)
        return io.BytesIO(data) if data is not None else self.inner.open(digest)

    def size(self, digest: str) -> int:
        size = self._scalar(_SIZE, digest)
        return int(size) if size is not None else self.inner.size(digest)

    def exists(self, digest: str) -> bool:
        return self._scalar(_SIZE, digest) is not None or self.inner.exists(digest)
