"""Two whole hub nodes (API + worker each, data directories of their own) sharing PostgreSQL,
RabbitMQ and the database blob store (``blobs.store: database``): a package pushed through one
node is pulled through the other, and when one node dies the other carries on."""

from __future__ import annotations

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
    spliced,
)
from e2e_support import make_site as _make_site

from adapters.vxp_client import VxpClient

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubSite]:
    data_dir: Path = tmp_path_factory.mktemp("hub-two-nodes")
    with _make_site(request, "postgresql", data_dir) as s:
        s.env["LIENTHONG_BLOB_STORE"] = "database"
        s.cli("db", "upgrade")
        s.add_system(SYSTEM_A, [AGENCY_A], SECRET_A)
        s.add_system(SYSTEM_B, [AGENCY_B], SECRET_B)
        yield s


def test_pushed_through_one_node_pulled_through_the_other_and_one_node_dies(
    site: HubSite,
) -> None:
    node1, node2 = site.data_dir / "node1", site.data_dir / "node2"
    api1 = site.start("serve", data_dir=node1)
    worker1 = site.start("worker", data_dir=node1)
    api2 = site.start("serve", data_dir=node2)
    site.start("worker", data_dir=node2)

    sent = []
    with VxpClient(api1.url + "/", SYSTEM_A, SECRET_A) as a:
        for _ in range(5):
            _, data = edoc_for(AGENCY_A, [AGENCY_B])
            assert a.send_edoc(data, from_code=AGENCY_A, to_codes=[AGENCY_B])
            sent.append(data)
    with VxpClient(api2.url + "/", SYSTEM_B, SECRET_B) as b:
        taken = drain(b, expect=len(sent))
    for data, (_, got) in zip(sent, _in_order(sent, taken), strict=True):
        spliced(data, got)  # the bytes pushed on node 1, with one TraceHeader added
    # Nothing of node 1's data directory was needed: no blob files were written there.
    assert not (node1 / "blobs").exists() or not any((node1 / "blobs").rglob("*/*/*"))

    # Node 1 dies whole; node 2 carries the traffic on its own.
    api1.kill()
    worker1.kill()
    more = []
    with VxpClient(api2.url + "/", SYSTEM_A, SECRET_A) as a:
        for _ in range(5):
            _, data = edoc_for(AGENCY_A, [AGENCY_B])
            assert a.send_edoc(data, from_code=AGENCY_A, to_codes=[AGENCY_B])
            more.append(data)
    with VxpClient(api2.url + "/", SYSTEM_B, SECRET_B) as b:
        taken = drain(b, expect=len(more), timeout=60)
    assert len(taken) == len(more)


def _in_order(sent: list[bytes], taken: list[tuple[object, bytes]]) -> list[tuple[object, bytes]]:
    """``taken`` matched to ``sent`` by the unique code number inside each package."""
    from e2e_support import number_of

    by_number = {number_of(got): (item, got) for item, got in taken}
    return [by_number[number_of(data)] for data in sent]
