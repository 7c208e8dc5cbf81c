"""The services with a package held in a file (:class:`hub.edxml.source.PackageFile`): pushed,
stored from the file, pulled whole and streamed; refused past the one limit, naming it.

Runs over every store (memory, SQLite, PostgreSQL) and, for the streamed pull, over the three
blob stores (memory, files, database chunks).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.memory import MemoryBlobStore
from hub.edxml.model import MessageKind
from hub.edxml.reader import TREE_LIMIT
from hub.edxml.source import PackageFile
from hub.edxml.trace import append_trace
from hub.edxml.writer import OutgoingAttachment
from hub.errors import PackageTooLarge
from hub.ports import BlobStore
from hub.secrets import SecretBox, generate_key
from hub.services.base import Deps, HubConfig
from hub.services.hub import HubServices
from tests.factories import make_edoc
from tests.unit.hub.conftest import SO, SO_AGENCIES, UBND, UBND_AGENCIES
from tests.unit.hub.test_hub_services import drain

SENDER = "000.00.00.H41"  # hosted by UBND
RECIPIENT = "000.00.02.H41"  # hosted by SO


@pytest.fixture(scope="module")
def large() -> bytes:
    payload = bytes(range(256)) * (TREE_LIMIT // 256 + 4096)
    att = OutgoingAttachment("big", "big.bin", "application/octet-stream", payload, zip=False)
    data = make_edoc(attachments=[att], sender=SENDER, to=[RECIPIENT], code_number="9901")
    assert len(data) > TREE_LIMIT
    return data


def _file(data: bytes) -> PackageFile:
    return PackageFile(io.BytesIO(data + b"not part of it"), len(data), _sha(data))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["memory", "file", "database"])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "memory":
        yield MemoryBlobStore()
    elif request.param == "file":
        from adapters.store.blobs import FileBlobStore

        yield FileBlobStore(tmp_path / "blobs", fsync=False)
    else:
        from adapters.store.db_blobs import DatabaseBlobStore
        from tests.db_fixtures import migrated_engine_on

        with migrated_engine_on(request, "sqlite") as engine:
            yield DatabaseBlobStore(engine)


@pytest.fixture
def big_hub(deps: Deps, config: HubConfig, blob_store: BlobStore) -> HubServices:
    services = HubServices(
        dataclasses.replace(deps, blobs=blob_store), config, SecretBox(generate_key())
    )
    services.systems.add(UBND, UBND_AGENCIES, secret="ubnd-secret")
    services.systems.add(SO, SO_AGENCIES, secret="so-secret")
    return services


def test_a_package_in_a_file_is_stored_from_it_and_pulled_back(
    big_hub: HubServices, large: bytes, blob_store: BlobStore
) -> None:
    pushed = big_hub.push(UBND, _file(large))
    assert pushed.digest == _sha(large)
    assert blob_store.size(pushed.digest) == len(large)
    assert blob_store.get(pushed.digest) == large  # only the package, not what follows it
    # The same bytes pushed in memory are the same document (idempotent on the digest).
    assert big_hub.push(UBND, large).doc_id == pushed.doc_id
    drain(big_hub)
    (delivery,) = [r.delivery_id for r in pushed.recipients]
    whole = big_hub.fetch(SO, delivery).data
    streamed = big_hub.fetch_stream(SO, delivery)
    assert streamed.kind is MessageKind.EDOC
    out = b"".join(streamed.chunks)
    assert out == whole
    assert streamed.size == len(out)
    with big_hub.deps.uow() as uow:
        received_at = uow.documents.get(pushed.doc_id).received_at  # type: ignore[union-attr]
    assert whole == append_trace(large, "000.00.00.H41", received_at)


def test_past_the_limit_the_refusal_names_the_setting(
    deps: Deps, config: HubConfig, large: bytes
) -> None:
    cap = len(large) - 1
    small = HubServices(
        dataclasses.replace(deps, blobs=MemoryBlobStore()),
        dataclasses.replace(config, max_package_bytes=cap),
        SecretBox(generate_key()),
    )
    small.systems.add(UBND, UBND_AGENCIES, secret="ubnd-secret")
    for data in (large, _file(large)):
        with pytest.raises(PackageTooLarge) as caught:
            small.push(UBND, data)
        assert "limits.max_package_bytes" in caught.value.message_en
        assert caught.value.details == {"max_bytes": cap, "size": len(large)}
