"""The production shape: ``lienthong serve`` and ``lienthong worker`` as two processes on
PostgreSQL + RabbitMQ.

``serve`` stores the package and publishes its dispatch message (the outbox relay runs in the
API process); only ``worker`` consumes the dispatch queue. So a package pushed while no worker
runs waits (``queued``) and becomes available in the recipient's inbox once a worker starts;
and a worker SIGKILLed mid-flight is replaced by another without losing a delivery.
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


def test_a_package_pushed_to_serve_is_dispatched_by_the_worker(pg_site: HubSite) -> None:
    api = pg_site.start("serve")
    with (
        VxpClient(api.url + "/", SYSTEM_A, SECRET_A) as a,
        VxpClient(api.url + "/", SYSTEM_B, SECRET_B) as b,
    ):
        _, first = edoc_for(AGENCY_A, [AGENCY_B])
        doc_id = a.send_edoc(first, from_code=AGENCY_A, to_codes=[AGENCY_B])
        time.sleep(2.0)  # the relay publishes at once; nobody consumes the dispatch queue
        assert b.get_received_edoc_list() == []
        (row,) = a.get_sent_edoc_list(doc_id)
        assert row["sendStatus"] == "queued"

        worker = pg_site.start("worker")
        ((item, got),) = drain(b, expect=1, timeout=30)
        assert b"<edXML:OrganId>" in spliced(first, got)
        (row,) = a.get_sent_edoc_list(doc_id)
        assert (row["receiverDocId"], row["sendStatus"]) == (item.doc_id, "done")

        # With the worker running, the next push is dispatched without further help.
        _, second = edoc_for(AGENCY_A, [AGENCY_B])
        a.send_edoc(second, from_code=AGENCY_A, to_codes=[AGENCY_B])
        assert len(drain(b, expect=1, timeout=15)) == 1

        # A worker killed outright is replaced; what it had not acknowledged is redelivered.
        worker.kill()
        _, third = edoc_for(AGENCY_A, [AGENCY_B])
        a.send_edoc(third, from_code=AGENCY_A, to_codes=[AGENCY_B])
        replacement = pg_site.start("worker")
        assert len(drain(b, expect=1, timeout=30)) == 1
        assert drain(b, expect=0, settle_s=2.0) == []
    # SIGTERM stops both processes cleanly (the worker settles and closes its connection).
    assert replacement.stop(), replacement.log()
    assert api.stop(), api.log()
