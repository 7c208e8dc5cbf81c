"""The filesystem blob store: content-addressed, idempotent, durable by rename, streaming in
both directions without holding a body in memory, and loud about missing or corrupt bodies."""

from __future__ import annotations

import contextlib
import hashlib
import io
import resource
import signal
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.store.blobs import FileBlobStore
from hub.errors import InternalError, InvalidRequest, PackageTooLarge

BODY = "<edXMLEnvelope>Ủy ban nhân dân tỉnh Nghệ An</edXMLEnvelope>".encode()


class PatternStream(io.RawIOBase):
    """``size`` bytes of a repeating pattern, produced on demand (never held whole)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._left = size
        self._block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        n = min(len(buffer), self._left, len(self._block))
        buffer[:n] = self._block[:n]
        self._left -= n
        return n


def pattern_digest(size: int) -> str:
    h = hashlib.sha256()
    stream = PatternStream(size)
    while chunk := stream.read(1 << 16):
        h.update(chunk)
    return h.hexdigest()


@pytest.fixture
def store(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs")


def _files(store: FileBlobStore) -> list[Path]:
    return sorted(p for p in store.root.rglob("*") if p.is_file())


def test_put_is_content_addressed_and_idempotent(store: FileBlobStore) -> None:
    digest = store.put(BODY)
    assert digest == hashlib.sha256(BODY).hexdigest()
    assert store.put(BODY) == digest
    assert _files(store) == [store.root / digest[:2] / digest[2:4] / digest]
    assert store.exists(digest)
    assert store.get(digest) == BODY
    assert store.size(digest) == len(BODY)
    with store.open(digest) as fh:
        assert fh.read() == BODY


def test_put_stream_equals_put_and_leaves_no_temp_file(store: FileBlobStore) -> None:
    digest, size = store.put_stream(io.BytesIO(BODY))
    assert (digest, size) == (hashlib.sha256(BODY).hexdigest(), len(BODY))
    assert store.put_stream(io.BytesIO(BODY)) == (digest, size)  # already stored
    assert list((store.root / "tmp").iterdir()) == []
    assert len(_files(store)) == 1


def test_concurrent_puts_of_the_same_body_store_it_once(store: FileBlobStore) -> None:
    errors: list[BaseException] = []

    def put() -> None:
        try:
            for _ in range(20):
                store.put(BODY + b"x" * 10_000)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(_files(store)) == 1
    assert list((store.root / "tmp").iterdir()) == []


@pytest.mark.slow
def test_fifty_megabytes_stream_in_and_out_in_constant_memory(store: FileBlobStore) -> None:
    size = 50 * 1024 * 1024
    expected = pattern_digest(size)
    tracemalloc.start()
    try:
        digest, stored = store.put_stream(PatternStream(size))
        _, peak_in = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        h = hashlib.sha256()
        with store.open(digest) as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        _, peak_out = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (digest, stored) == (expected, size)
    assert h.hexdigest() == expected
    # One or two 1 MiB chunks in flight, never the body: a tenth of it is a generous ceiling.
    assert peak_in < 5 * 1024 * 1024, peak_in
    assert peak_out < 5 * 1024 * 1024, peak_out


def test_size_cap_removes_the_partial_body(store: FileBlobStore) -> None:
    with pytest.raises(PackageTooLarge):
        store.put_stream(PatternStream(3 * 1024 * 1024), max_size=2 * 1024 * 1024)
    assert _files(store) == []
    digest, size = store.put_stream(io.BytesIO(BODY), max_size=len(BODY))
    assert size == len(BODY)
    assert store.exists(digest)


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """The kernel refuses (EFBIG) any write of this process past ``limit`` bytes of a file —
    a real refused write, as a full disk or quota gives (SIGXFSZ ignored, so the write fails
    instead of killing the process)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


@pytest.mark.parametrize("how", ["put", "put_stream"])
def test_a_refused_write_is_our_503_and_leaves_nothing_half_stored(
    store: FileBlobStore, how: str
) -> None:
    """Regression: a full disk used to escape as a bare ``OSError`` (a 500 to the sender)."""
    body = hashlib.sha256(b"x").digest() * 8192  # 256 KiB
    write = store.put if how == "put" else lambda data: store.put_stream(io.BytesIO(data))
    with file_size_limit(64 * 1024), pytest.raises(InternalError) as refused:
        write(body)
    assert refused.value.code == "blob.unwritable"
    assert refused.value.http_status == 503
    assert refused.value.details == {"errno": "EFBIG"}
    assert _files(store) == []  # the temp file is gone, no final name was made
    digest = store.put(body)  # space again: the same body is accepted
    assert store.get(digest) == body


def test_missing_blob_is_our_fault_with_a_clear_code(store: FileBlobStore) -> None:
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(absent)
    for call in (store.get, store.open, store.size):
        with pytest.raises(InternalError) as info:
            call(absent)
        assert info.value.code == "blob.missing"
        assert absent in str(info.value)


def test_corrupt_blob_is_detected_by_get_and_by_streaming_read(store: FileBlobStore) -> None:
    digest = store.put(BODY)
    path = store.path(digest)
    path.write_bytes(BODY[:-1] + b"!")  # same size, one byte changed
    with pytest.raises(InternalError) as info:
        store.get(digest)
    assert info.value.code == "blob.corrupt"
    with store.open(digest) as fh, pytest.raises(InternalError) as streamed:
        fh.read()
    assert streamed.value.code == "blob.corrupt"


@pytest.mark.parametrize(
    "digest", ["../../etc/passwd", "A" * 64, "0" * 63, "g" * 64, "", "0" * 64 + "/x"]
)
def test_malformed_digest_never_becomes_a_path(store: FileBlobStore, digest: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        store.get(digest)
    assert info.value.code == "blob.digest_invalid"
    with pytest.raises(InvalidRequest):
        store.exists(digest)


def test_delete_removes_only_the_named_blob(store: FileBlobStore) -> None:
    keep = store.put(b"keep")
    gone = store.put(b"gone")
    assert store.delete(gone) is True
    assert store.delete(gone) is False
    assert store.exists(keep)
    assert not store.exists(gone)
