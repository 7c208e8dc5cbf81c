"""``updateStatus fail`` sent twice through the VXP façade counts one failed attempt.

A whole hub (``build_hub``: SQLite, embedded broker) behind its real ASGI app; the recipient
is the hub's own VXP client (the SDK's wire format), as an agency system's connector would
retry ``updateStatus`` after a timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.vxp_client import VxpClient
from hub.entrypoints.bootstrap import Hub, build_hub
from hub.messaging import DISPATCH_QUEUE
from hub.ports import NullVerifier
from hub.services.base import message_ids
from hub.settings import load_settings
from tests.factories import make_edoc

UBND, SO, SO_SECRET = "qlvb.ubnd", "qlvb.so", "so-secret-31d0"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    settings = load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path / "data")})
    h = build_hub(settings, verifier=NullVerifier(), links={})
    h.services.systems.add(UBND, ["000.00.00.H41"], secret="ubnd-secret-8c1f2a")
    h.services.systems.add(SO, ["000.00.02.H41"], secret=SO_SECRET)
    yield h
    h.close()


def _dispatch(hub: Hub) -> None:
    with hub.uow() as uow:
        rows = [r for r in uow.outbox.pending() if r.queue == DISPATCH_QUEUE]
        uow.outbox.delete([r.id for r in rows])
        uow.commit()
    hub.dispatch.dispatch([i for r in rows for i in message_ids(r.body)])


def test_a_retried_fail_counts_one_attempt(hub: Hub) -> None:
    [rcpt] = hub.services.push(
        UBND, make_edoc(sender="000.00.00.H41", to=["000.00.02.H41"])
    ).recipients
    _dispatch(hub)
    with TestClient(hub.app()) as http:
        so = VxpClient("http://testserver", SO, SO_SECRET, http=http)
        [item] = so.get_received_edoc_list()
        doc_id = item.doc_id
        so.get_edoc(doc_id)
        so.update_status(doc_id, "fail")
        so.update_status(doc_id, "fail")  # the connector's retry after a timeout
        assert [i.doc_id for i in so.get_received_edoc_list()] == [doc_id]  # listed again
    with hub.uow() as uow:
        row = uow.deliveries.get(rcpt.delivery_id)
        assert row is not None
        assert (row.state, row.attempts) == ("available", 1)
        fails = [e for e in uow.deliveries.events(row.id) if e.to_state == "available"]
    assert len(fails) == 2  # dispatch, then the one failure
