"""Small package bodies in their ``packages`` row (``blobs.inline_max_bytes``,
:mod:`adapters.store.row_blobs`): written by the push's own transaction, never put in the blob
store, read back by every reader through the one BlobStore port; larger bodies and bodies stored
before keep the blob store. Over SQLite and PostgreSQL, each with the file and the database
blob store behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.store.blobs import FileBlobStore
from adapters.store.db_blobs import DatabaseBlobStore
from adapters.store.row_blobs import RowBlobStore
from adapters.store.tables import blobs as blobs_table
from adapters.store.tables import packages
from adapters.store.uow import SqlStore
from hub.edxml.trace import append_trace
from hub.errors import InternalError
from hub.ports import BlobStore, UnitOfWorkFactory
from hub.secrets import SecretBox, generate_key
from hub.services.base import Deps, HubConfig
from hub.services.hub import HubServices
from tests.db_fixtures import migrated_engine_on
from tests.factories import make_edoc, make_status
from tests.unit.hub.conftest import SO, SO_AGENCIES, UBND, UBND_AGENCIES
from tests.unit.hub.test_hub_services import drain

SENDER = "000.00.00.H41"  # hosted by UBND
RECIPIENT = "000.00.02.H41"  # hosted by SO
LIMIT = 64 * 1024


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def engine(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    with migrated_engine_on(request, request.param) as engine:
        yield engine


@pytest.fixture
def uow_factory(engine: sa.Engine) -> UnitOfWorkFactory:
    return SqlStore(engine).unit_of_work


@pytest.fixture(params=["file", "database"])
def inner(request: pytest.FixtureRequest, engine: sa.Engine, tmp_path: Path) -> BlobStore:
    if request.param == "file":
        return FileBlobStore(tmp_path / "blobs", fsync=False)
    return DatabaseBlobStore(engine)


@pytest.fixture
def store(engine: sa.Engine, inner: BlobStore) -> RowBlobStore:
    return RowBlobStore(engine, inner, LIMIT)


@pytest.fixture
def services(deps: Deps, config: HubConfig, store: RowBlobStore) -> HubServices:
    hub = HubServices(dataclasses.replace(deps, blobs=store), config, SecretBox(generate_key()))
    hub.systems.add(UBND, UBND_AGENCIES, secret="ubnd-secret")
    hub.systems.add(SO, SO_AGENCIES, secret="so-secret")
    return hub


def _in_inner(inner: BlobStore, engine: sa.Engine) -> int:
    """How many bodies the wrapped store holds."""
    if isinstance(inner, FileBlobStore):
        return sum(1 for p in inner.root.rglob("*") if p.is_file())
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(blobs_table)).scalar_one())


def _row_body(engine: sa.Engine, digest: str) -> bytes | None:
    with engine.connect() as conn:
        body = conn.execute(
            sa.select(packages.c.body).where(packages.c.digest == digest)
        ).scalar_one()
    return None if body is None else bytes(body)


def test_a_small_package_is_kept_in_its_row_and_read_back_by_every_reader(
    services: HubServices, store: RowBlobStore, inner: BlobStore, engine: sa.Engine
) -> None:
    data = make_edoc(sender=SENDER, to=[RECIPIENT], code_number="7001")
    assert len(data) <= LIMIT
    pushed = services.push(UBND, data)
    assert _row_body(engine, pushed.digest) == data
    assert _in_inner(inner, engine) == 0  # no file, no chunk: the commit was its durability
    assert store.exists(pushed.digest)
    assert store.size(pushed.digest) == len(data)
    assert store.get(pushed.digest) == data
    assert store.open(pushed.digest).read() == data
    # Pulled whole and streamed (downloadEdoc, REST fetch), as with the blob store.
    drain(services)
    (delivery,) = [r.delivery_id for r in pushed.recipients]
    whole = services.fetch(SO, delivery).data
    streamed = services.fetch_stream(SO, delivery)
    assert b"".join(streamed.chunks) == whole
    assert streamed.size == len(whole)
    with services.deps.uow() as uow:
        received_at = uow.documents.get(pushed.doc_id).received_at  # type: ignore[union-attr]
    assert whole == append_trace(data, "000.00.00.H41", received_at)  # the stored bytes


def test_the_same_bytes_again_are_answered_as_stored_with_one_row(
    services: HubServices, engine: sa.Engine
) -> None:
    data = make_status(sender=SENDER, response_to=RECIPIENT, document_id="H41,2026/12/04,1/UBND")
    first = services.push(UBND, data)
    again = services.push(UBND, data)
    assert (again.doc_id, again.duplicate, first.duplicate) == (first.doc_id, True, False)
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(packages)).scalar_one()
    assert count == 1
    assert _row_body(engine, first.digest) == data


def test_a_package_above_the_limit_keeps_the_blob_store(
    deps: Deps,
    config: HubConfig,
    engine: sa.Engine,
    inner: BlobStore,
) -> None:
    data = make_edoc(sender=SENDER, to=[RECIPIENT], code_number="7002")
    store = RowBlobStore(engine, inner, len(data) - 1)
    hub = HubServices(dataclasses.replace(deps, blobs=store), config, SecretBox(generate_key()))
    hub.systems.add(UBND, UBND_AGENCIES, secret="ubnd-secret")
    hub.systems.add(SO, SO_AGENCIES, secret="so-secret")
    pushed = hub.push(UBND, data)
    assert _row_body(engine, pushed.digest) is None
    assert inner.get(pushed.digest) == data
    assert store.get(pushed.digest) == data
    assert store.size(pushed.digest) == len(data)
    # Fetched from the blob store, whole and streamed: the same trace as from a row.
    drain(hub)
    (delivery,) = [r.delivery_id for r in pushed.recipients]
    with hub.deps.uow() as uow:
        received_at = uow.documents.get(pushed.doc_id).received_at  # type: ignore[union-attr]
    traced = append_trace(data, "000.00.00.H41", received_at)
    streamed = hub.fetch_stream(SO, delivery)
    assert (streamed.size, b"".join(streamed.chunks)) == (len(traced), traced)
    assert hub.fetch(SO, delivery).data == traced


def test_a_body_stored_before_is_still_found_and_a_missing_one_is_ours(
    store: RowBlobStore, inner: BlobStore
) -> None:
    old = b"<edXML>stored before 0020</edXML>"
    digest = inner.put(old)
    assert (store.get(digest), store.open(digest).read(), store.size(digest)) == (
        old,
        old,
        len(old),
    )
    assert store.exists(digest)
    missing = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(missing)
    with pytest.raises(InternalError) as caught:
        store.get(missing)
    assert caught.value.code == "blob.missing"


def test_a_changed_body_in_a_row_is_reported_corrupt(
    services: HubServices, store: RowBlobStore, engine: sa.Engine
) -> None:
    data = make_edoc(sender=SENDER, to=[RECIPIENT], code_number="7003")
    pushed = services.push(UBND, data)
    with engine.begin() as conn:
        conn.execute(
            packages.update().where(packages.c.digest == pushed.digest).values(body=b"x" + data)
        )
    with pytest.raises(InternalError) as caught:
        store.get(pushed.digest)
    assert caught.value.code == "blob.corrupt"
    # A fetch reads the body with its delivery, not through the store: it checks it too, and
    # the copy stays in the inbox.
    drain(services)
    (delivery,) = [r.delivery_id for r in pushed.recipients]
    for fetch in (services.fetch, services.fetch_stream):
        with pytest.raises(InternalError) as caught:
            fetch(SO, delivery)
        assert caught.value.code == "blob.corrupt"
    with services.deps.uow() as uow:
        assert uow.deliveries.get(delivery).state == "available"  # type: ignore[union-attr]
