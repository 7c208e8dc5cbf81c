"""The database blob store (``blobs.store: database``): the BlobStore contract on SQLite and
PostgreSQL — content-addressed, idempotent under races, streaming both ways in bounded memory,
a size cap that leaves nothing behind, loud about missing or corrupt bodies."""

from __future__ import annotations

import hashlib
import threading
import tracemalloc
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from adapters.store.db_blobs import DatabaseBlobStore
from adapters.store.tables import blob_chunks, blobs
from hub.errors import InternalError, InvalidRequest, PackageTooLarge
from tests.db_fixtures import migrated_engine_on
from tests.integration.store.test_store_blobs import BODY, PatternStream, pattern_digest


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest) -> Iterator[DatabaseBlobStore]:
    with migrated_engine_on(request, request.param) as engine:
        yield DatabaseBlobStore(engine)


def _count(store: DatabaseBlobStore, table: sa.Table) -> int:
    with store._engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_put_is_content_addressed_and_idempotent(store: DatabaseBlobStore) -> None:
    digest = store.put(BODY)
    assert digest == hashlib.sha256(BODY).hexdigest()
    assert store.put(BODY) == digest
    assert store.get(digest) == BODY
    assert store.size(digest) == len(BODY)
    assert store.open(digest).read() == BODY
    assert (_count(store, blobs), _count(store, blob_chunks)) == (1, 1)


def test_concurrent_puts_of_the_same_body_store_it_once(store: DatabaseBlobStore) -> None:
    body = BODY * 5000
    errors: list[BaseException] = []

    def put() -> None:
        try:
            store.put(body)
        except BaseException as exc:  # kept for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.get(hashlib.sha256(body).hexdigest()) == body
    assert _count(store, blobs) == 1


def test_twenty_megabytes_stream_in_and_out_in_bounded_memory(store: DatabaseBlobStore) -> None:
    size = 20 * 1024 * 1024
    tracemalloc.start()
    try:
        digest, stored = store.put_stream(PatternStream(size))
        _, peak_in = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with store.open(digest) as fh:
            h = hashlib.sha256()
            while chunk := fh.read(1 << 16):
                h.update(chunk)
        _, peak_out = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (digest, stored) == (pattern_digest(size), size)
    assert h.hexdigest() == digest
    # a few chunks (1 MiB) in flight, never the 20 MiB body
    assert peak_in < 6 * 1024 * 1024, peak_in
    assert peak_out < 6 * 1024 * 1024, peak_out


def test_the_size_cap_leaves_nothing_behind(store: DatabaseBlobStore) -> None:
    with pytest.raises(PackageTooLarge):
        store.put_stream(PatternStream(3 * 1024 * 1024), max_size=2 * 1024 * 1024)
    assert (_count(store, blobs), _count(store, blob_chunks)) == (0, 0)


def test_missing_and_corrupt_bodies_are_our_fault(store: DatabaseBlobStore) -> None:
    absent = hashlib.sha256(b"never stored").hexdigest()
    with pytest.raises(InternalError) as caught:
        store.get(absent)
    assert caught.value.code == "blob.missing"
    digest = store.put(BODY)
    with store._engine.begin() as conn:
        conn.execute(sa.update(blob_chunks).values(data=b"tampered"))
    with pytest.raises(InternalError) as caught:
        store.get(digest)
    assert caught.value.code == "blob.corrupt"
    with pytest.raises(InvalidRequest):
        store.exists("../../etc/passwd")


def test_delete_removes_the_body_and_its_chunks(store: DatabaseBlobStore) -> None:
    digest = store.put(BODY)
    keep = store.put(BODY + b"!")
    assert store.delete(digest)
    assert not store.delete(digest)
    assert not store.exists(digest)
    assert store.get(keep) == BODY + b"!"
    assert _count(store, blob_chunks) == 1
