"""Two pushes of one DocumentId with different bytes, at the same time: one wins, one Conflict.

Intake checks the DocumentId (``by_document_id``) and inserts in one transaction, but under
READ COMMITTED (PostgreSQL) two transactions can both pass the check before either commits.
There is no plain unique key to stop them (revoke/update/replace reuse the id), so a partial
unique index on ``(sender_code, document_id)`` for business type *new* (migration
``0007_unique_new_docid``) is the last line; the repository reports it as the same
``document.id_reused`` Conflict the check gives.

On PostgreSQL the race is forced: two hubs (as two API processes) push at once, and each push
waits after its DocumentId check until both have passed it. SQLite (``BEGIN IMMEDIATE``) and
the in-memory store (one lock) serialise whole pushes, so there the threads simply run together.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from adapters.memory import ManualClock, MemoryBlobStore
from hub.agency.registry import Registry
from hub.edxml.model import MessageKind
from hub.errors import Conflict
from hub.ports import DocumentRow, PackageRow, UnitOfWork, UnitOfWorkFactory
from hub.secrets import SecretBox, generate_key
from hub.services.base import Deps, HubConfig
from hub.services.contracts import PushResult
from hub.services.hub import HubServices
from tests.factories import make_edoc
from tests.unit.hub.conftest import UBND, UBND_AGENCIES, Wakes

SENDER = "000.00.00.H41"


def _pausing(factory: UnitOfWorkFactory, barrier: threading.Barrier) -> UnitOfWorkFactory:
    """``factory`` whose units of work wait at ``barrier`` right after a DocumentId look-up."""

    def make() -> UnitOfWork:
        uow = factory()
        real = uow.documents.by_document_id

        def paused(sender_code: str, document_id: str) -> Any:
            found = real(sender_code, document_id)
            barrier.wait(timeout=20)
            return found

        uow.documents.by_document_id = paused  # type: ignore[method-assign]
        return uow

    return make


def _hub(
    uow: UnitOfWorkFactory,
    blobs: MemoryBlobStore,
    registry: Registry,
    clock: ManualClock,
    config: HubConfig,
) -> HubServices:
    deps = Deps(uow, blobs, lambda: registry, clock, wake_outbox=Wakes())
    return HubServices(deps, config, SecretBox(generate_key()))


def _outcome(push: Callable[[], PushResult]) -> str:
    try:
        push()
    except Conflict as exc:
        return exc.code
    return "accepted"


def test_concurrent_pushes_of_one_document_id_accept_one(
    request: pytest.FixtureRequest,
    uow_factory: UnitOfWorkFactory,
    blobs: MemoryBlobStore,
    registry: Registry,
    clock: ManualClock,
    config: HubConfig,
) -> None:
    backend = request.node.callspec.params["uow_factory"]
    setup = _hub(uow_factory, blobs, registry, clock, config)
    setup.systems.add(UBND, UBND_AGENCIES, secret="ubnd-secret")
    racing = uow_factory
    if backend == "postgresql":
        racing = _pausing(uow_factory, threading.Barrier(2))
    # Two hubs, as two API processes: within one process the group commit writes concurrent
    # pushes one after the other in its transaction (the second then sees the first's row).
    hubs = [_hub(racing, blobs, registry, clock, config) for _ in range(2)]
    pushes = [
        (hub, make_edoc(sender=SENDER, to=["000.00.02.H41"], document_id="DOC-RACE", subject=s))
        for hub, s in zip(hubs, ("Bản thứ nhất", "Bản thứ hai"), strict=True)
    ]
    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda job: _outcome(lambda: job[0].push(UBND, job[1])), pushes))
    assert outcomes == ["accepted", "document.id_reused"]
    with uow_factory() as uow:
        assert len(uow.documents.by_document_id(SENDER, "DOC-RACE")) == 1
        refusals = [r.outcome for r in uow.audit.recent(action="push")]
    assert "document.id_reused" in refusals


def test_follow_ups_still_reuse_the_document_id(
    uow_factory: UnitOfWorkFactory,
    blobs: MemoryBlobStore,
    registry: Registry,
    clock: ManualClock,
    config: HubConfig,
) -> None:
    from hub.edxml.model import BussinessDocType

    hub = _hub(uow_factory, blobs, registry, clock, config)
    hub.systems.add(UBND, UBND_AGENCIES, secret="ubnd-secret")
    common = {"sender": SENDER, "to": ["000.00.02.H41"], "document_id": "DOC-F"}
    hub.push(UBND, make_edoc(**common))  # type: ignore[arg-type]
    for btype in (BussinessDocType.UPDATE, BussinessDocType.REVOKE):
        hub.push(UBND, make_edoc(**common, business_type=btype, subject=str(btype)))  # type: ignore[arg-type]
    with uow_factory() as uow:
        assert len(uow.documents.by_document_id(SENDER, "DOC-F")) == 3


def _doc(n: int, business_type: int) -> tuple[PackageRow, DocumentRow]:
    now = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    digest = f"{n:064x}"
    doc = DocumentRow(
        id=str(uuid.uuid4()),
        digest=digest,
        kind=MessageKind.EDOC,
        document_id="DOC-STORE",
        sender_code=SENDER,
        sender_system=UBND,
        business_type=business_type,
        related_doc_id=None,
        subject=None,
        code_number=None,
        code_notation=None,
        verdicts={},
        problems=[],
        flags=[],
        received_at=now,
    )
    return PackageRow(digest, 1, MessageKind.EDOC, now), doc


def test_the_store_keeps_one_new_document_per_document_id(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        for n, btype in ((1, 0), (2, 2), (3, 1)):  # new, then an update and a revoke reuse it
            pkg, doc = _doc(n, btype)
            uow.packages.add(pkg)
            uow.documents.add(doc)
        pkg, doc = _doc(4, 0)
        uow.packages.add(pkg)
        with pytest.raises(Conflict) as info:
            uow.documents.add(doc)
        assert info.value.code == "document.id_reused"
        assert info.value.document_id == "DOC-STORE"
        uow.commit()  # the transaction survived the refusal (ON CONFLICT, not a failed INSERT)
    with uow_factory() as uow:
        assert len(uow.documents.by_document_id(SENDER, "DOC-STORE")) == 3


def test_the_migration_names_pairs_accepted_before_it(tmp_path: Path) -> None:
    from adapters.store import migrate
    from adapters.store.engine import create_engine
    from adapters.store.uow import SqlStore

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate.upgrade(engine, "0003")
        with SqlStore(engine).unit_of_work() as uow:
            for n in (1, 2):
                pkg, doc = _doc(n, 0)
                uow.packages.add(pkg)
                uow.documents.add(doc)
            uow.commit()
        with pytest.raises(RuntimeError, match="DOC-STORE"):
            migrate.upgrade(engine)
        assert migrate.current_revision(engine) == "0003"
    finally:
        engine.dispose()
