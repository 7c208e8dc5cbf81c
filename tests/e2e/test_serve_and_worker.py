"""The production shape: ``lienthong serve`` and ``lienthong worker`` as two processes on
PostgreSQL + RabbitMQ.

A copy for a system of this hub is in its inbox as soon as ``serve`` answers the push: no
worker takes part. Work for the worker goes through the outbox, which ``serve`` relays to the
dispatch queue; only ``worker`` consumes it. So a copy that needs dispatching — here one IT
staff redrive once its recipient is served here — waits (``queued``) while no worker runs and
reaches the inbox once a worker starts; and a worker SIGKILLed is replaced by another without
losing a delivery.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import (
    AGENCY_A,
    AGENCY_B,
    SECRET_A,
    SECRET_B,
    SYSTEM_A,
    SYSTEM_B,
    HubSite,
    drain,
    edoc_for,
    make_site,
    spliced,
)

from adapters.vxp_client import VxpClient

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def pg_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubSite]:
    data_dir: Path = tmp_path_factory.mktemp("hub-serve-worker")
    with make_site(request, "postgresql", data_dir) as site:
        site.cli("db", "upgrade")
        site.add_system(SYSTEM_A, [AGENCY_A], SECRET_A)
        site.add_system(SYSTEM_B, [AGENCY_B], SECRET_B)
        yield site


#: Served by nobody when the packages are pushed (undeliverable), then by systems C and D.
AGENCY_C1, AGENCY_C2 = "000.00.02.H41", "000.00.03.H41"
SYSTEM_C, SECRET_C = "qlvb.so-ke-hoach", "e2e-secret-of-system-c"
SYSTEM_D, SECRET_D = "qlvb.so-tai-chinh", "e2e-secret-of-system-d"


def _redrive_and_wait(site: HubSite, a: VxpClient, doc_id: str) -> None:
    """Redrive every dead or undeliverable copy (routes computed again), and see this one queued."""
    site.cli("deadletters", "redrive", "--all", "--yes")
    deadline = time.monotonic() + 10
    while a.get_sent_edoc_list(doc_id)[0]["sendStatus"] != "queued":
        assert time.monotonic() < deadline, a.get_sent_edoc_list(doc_id)
        time.sleep(0.2)


def test_local_copies_need_no_worker_and_dispatch_waits_for_one(pg_site: HubSite) -> None:
    api = pg_site.start("serve")
    with (
        VxpClient(api.url + "/", SYSTEM_A, SECRET_A) as a,
        VxpClient(api.url + "/", SYSTEM_B, SECRET_B) as b,
        VxpClient(api.url + "/", SYSTEM_C, SECRET_C) as c,
    ):
        # serve alone: the copy for B is in B's inbox when the push is answered
        _, first = edoc_for(AGENCY_A, [AGENCY_B])
        doc_id = a.send_edoc(first, from_code=AGENCY_A, to_codes=[AGENCY_B])
        (row,) = a.get_sent_edoc_list(doc_id)
        assert row["sendStatus"] == "available"
        ((item, got),) = drain(b, expect=1, timeout=15)
        assert b"<edXML:OrganId>" in spliced(first, got)
        (row,) = a.get_sent_edoc_list(doc_id)
        assert (row["receiverDocId"], row["sendStatus"]) == (item.doc_id, "done")

        # a copy for an agency nobody serves yet is undeliverable; once C serves it, the
        # redriven copy is queued for dispatch and waits: nobody consumes the dispatch queue
        _, second = edoc_for(AGENCY_A, [AGENCY_C1])
        second_id = a.send_edoc(second, from_code=AGENCY_A, to_codes=[AGENCY_C1])
        assert a.get_sent_edoc_list(second_id)[0]["sendStatus"] == "undeliverable"
        pg_site.add_system(SYSTEM_C, [AGENCY_C1], SECRET_C)
        _redrive_and_wait(pg_site, a, second_id)
        time.sleep(6.0)  # past the relay's sweep (5 s): the dispatch message is on the queue
        assert c.get_received_edoc_list() == []
        assert a.get_sent_edoc_list(second_id)[0]["sendStatus"] == "queued"

        worker = pg_site.start("worker")
        ((_, got),) = drain(c, expect=1, timeout=30)
        assert b"<edXML:OrganId>" in spliced(second, got)

        # A worker killed outright is replaced; what was queued meanwhile is dispatched.
        worker.kill()
        _, third = edoc_for(AGENCY_A, [AGENCY_C2])
        third_id = a.send_edoc(third, from_code=AGENCY_A, to_codes=[AGENCY_C2])
        pg_site.add_system(SYSTEM_D, [AGENCY_C2], SECRET_D)
        _redrive_and_wait(pg_site, a, third_id)
        replacement = pg_site.start("worker")
        with VxpClient(api.url + "/", SYSTEM_D, SECRET_D) as d:
            assert len(drain(d, expect=1, timeout=30)) == 1
            assert drain(d, expect=0, settle_s=2.0) == []
    # SIGTERM stops both processes cleanly (the worker settles and closes its connection).
    assert replacement.stop(), replacement.log()
    assert api.stop(), api.log()
