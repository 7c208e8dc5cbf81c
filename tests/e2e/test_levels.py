"""Liên thông across the levels: three ``lienthong`` processes, the axis and two provinces.

The national site (``lienthong run --role national``, organ ``000.00.00.G22``) connects a
ministry's QLVB and the two provincial hubs as ordinary systems (``hub.h41``, ``hub.h14``).
Nghệ An (H41) hosts a commune (``000.00.65.H41``), the successor commune of a district closed on
1 July 2025 (``000.00.22.H41`` → ``000.00.61.H41``), a department (``000.00.02.H41``) and the
province's People's Committee; Cao Bằng (H14) hosts a department (``000.00.02.H14``). Both
provinces are children of the axis, wired by ``LIENTHONG_NATIONAL_*`` alone; H41 retries its
forwards on a short schedule (``retry:`` in its settings file) so that an outage of the axis
plays out in seconds instead of an hour.

Each scenario asserts what the parties themselves see: the recipient's inbox
(``getReceivedEdocList`` / ``getEdoc``), the sender's inbox of statuses and its sent list
(``getSentEdocList``). What the axis saw is read from its audit log (one ``push`` row per
package taken in, with the sender's DocumentId). The two fault scenarios — the axis down, and
SIGKILL of H14's process mid-batch — run last, because they restart processes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from e2e_support import (
    AGENCY_A,
    AGENCY_B,
    BACKENDS,
    CLOSED_DISTRICT,
    SECRET_A,
    SECRET_B,
    SYSTEM_A,
    SYSTEM_B,
    Batch,
    HubProcess,
    HubSite,
    drain,
    drain_all,
    edoc_for,
    make_site,
    number_of,
    parent_env,
    wait_for,
)

from adapters.vxp_client import VxpClient
from hub.edxml.model import BussinessDocType, MessageKind
from hub.edxml.reader import read
from hub.messaging import RetryPolicy
from tests.factories import make_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

G22 = "000.00.00.G22"  # the axis' own organ and the ministry's agency
H41_ROOT, H14_ROOT = "000.00.00.H41", "000.00.00.H14"
DEPT_H41, DEPT_H14 = "000.00.02.H41", "000.00.02.H14"
MINISTRY, MINISTRY_SECRET = "qlvb.vpcp", "e2e-secret-of-the-ministry"
HUB_H41, HUB_H41_SECRET = "hub.h41", "e2e-secret-of-h41-at-the-axis"
HUB_H14, HUB_H14_SECRET = "hub.h14", "e2e-secret-of-h14-at-the-axis"
SYS_DEPT_H41, SECRET_DEPT_H41 = "qlvb.sonoivu.h41", "e2e-secret-of-the-h41-department"
SYS_UBND_H41, SECRET_UBND_H41 = "qlvb.ubnd.h41", "e2e-secret-of-the-h41-committee"
SYS_DEPT_H14, SECRET_DEPT_H14 = "qlvb.sonoivu.h14", "e2e-secret-of-the-h14-department"
AXIS_HOP = b"<edXML:OrganId>000.00.00.G22</edXML:OrganId>"
H41_HOP = b"<edXML:OrganId>000.00.00.H41</edXML:OrganId>"
H14_HOP = b"<edXML:OrganId>000.00.00.H14</edXML:OrganId>"
BATCH = 50


@dataclass
class Levels:
    """The three running sites and the port of each one's ``run`` process."""

    axis: HubSite
    h41: HubSite
    h14: HubSite
    ports: dict[str, int]

    def proc(self, site: HubSite) -> HubProcess:
        """The site's live ``run`` process (the last one started)."""
        return site.processes[-1]

    def client(self, site: HubSite, system: str, secret: str) -> VxpClient:
        return site.client(system, secret, self.proc(site))

    def hosted_at_axis(self, system_id: str) -> list[str]:
        systems = json.loads(self.axis.cli("systems", "list", "--json").stdout)
        return list(next(s["agencies"] for s in systems if s["system_id"] == system_id))

    def axis_saw(self) -> set[str]:
        """The DocumentIds of every package the axis took in (its audit log's pushes)."""
        out = self.axis.cli("audit", "list", "--action", "push", "--limit", "5000", "--json")
        return {str(r["details"].get("document_id")) for r in json.loads(out.stdout)}


def _settings(site: HubSite, organ: str, scope: str) -> None:
    path = site.data_dir / "settings.yaml"
    path.write_text(
        f"hub: {{organ_id: '{organ}', scope: [{scope}]}}\n"
        # An hour of the axis' absence in seconds: attempts every ≤ 1 s, never given up; the
        # circuit breaker's pause shortened the same way (the shipped one is 60 s).
        "retry: {max_attempts: 1000, base_delay_s: 0.2, max_delay_s: 1.0}\n"
        "breaker: {failures: 5, cooldown_s: 1.0, auth_cooldown_s: 5.0}\n",
        encoding="utf-8",
    )
    site.retry = RetryPolicy(max_attempts=1000, base_delay_s=0.2, max_delay_s=1.0)
    site.env["LIENTHONG_SETTINGS"] = str(path)
    site.env["LIENTHONG_ORGAN_ID"] = organ


@pytest.fixture(scope="module", params=BACKENDS)
def levels(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Levels]:
    backend = str(request.param)
    with (
        make_site(request, backend, tmp_path_factory.mktemp(f"axis-{backend}")) as axis,
        make_site(request, backend, tmp_path_factory.mktemp(f"h41-{backend}")) as h41,
        make_site(request, backend, tmp_path_factory.mktemp(f"h14-{backend}")) as h14,
    ):
        axis.env["LIENTHONG_ORGAN_ID"] = G22
        axis.env["LIENTHONG_ROLE"] = "national"
        axis.add_system(MINISTRY, [G22], MINISTRY_SECRET)
        axis.add_system(HUB_H41, [H41_ROOT], HUB_H41_SECRET)
        axis.add_system(HUB_H14, [H14_ROOT], HUB_H14_SECRET)
        parent = axis.start("run")

        _settings(h41, H41_ROOT, "H41, K41")
        h41.env.update(parent_env(parent.url + "/", HUB_H41, HUB_H41_SECRET))
        h41.add_system(SYSTEM_A, [AGENCY_A], SECRET_A)
        h41.add_system(SYSTEM_B, [AGENCY_B], SECRET_B)
        h41.add_system(SYS_DEPT_H41, [DEPT_H41], SECRET_DEPT_H41)
        h41.add_system(SYS_UBND_H41, [H41_ROOT], SECRET_UBND_H41)
        _settings(h14, H14_ROOT, "H14")
        h14.env.update(parent_env(parent.url + "/", HUB_H14, HUB_H14_SECRET))
        h14.add_system(SYS_DEPT_H14, [DEPT_H14], SECRET_DEPT_H14)
        ports = {"axis": parent.port or 0}
        ports["h41"] = h41.start("run").port or 0
        ports["h14"] = h14.start("run").port or 0

        found = Levels(axis, h41, h14, ports)
        wanted = {HUB_H41: {AGENCY_A, AGENCY_B, DEPT_H41}, HUB_H14: {DEPT_H14}}
        for system, codes in wanted.items():
            wait_for(
                lambda s=system, c=codes: [1] if c <= set(found.hosted_at_axis(s)) else [],
                what=f"the agencies of {system} registered at the axis",
                timeout=60,
            )
        yield found


@pytest.fixture(scope="module")
def commune(levels: Levels) -> Iterator[VxpClient]:
    with levels.client(levels.h41, SYSTEM_A, SECRET_A) as c:
        yield c


@pytest.fixture(scope="module")
def dept41(levels: Levels) -> Iterator[VxpClient]:
    with levels.client(levels.h41, SYS_DEPT_H41, SECRET_DEPT_H41) as c:
        yield c


@pytest.fixture
def dept14(levels: Levels) -> Iterator[VxpClient]:
    # Function-scoped: the SIGKILL scenario restarts H14 on the same port, a new client is cheap.
    with levels.client(levels.h14, SYS_DEPT_H14, SECRET_DEPT_H14) as c:
        yield c


@pytest.fixture(scope="module")
def ministry(levels: Levels) -> Iterator[VxpClient]:
    with levels.client(levels.axis, MINISTRY, MINISTRY_SECRET) as c:
        yield c


def _sent_row(client: VxpClient, doc_id: str, receive_status: str) -> dict[str, str]:
    (row,) = wait_for(
        lambda: [
            r for r in client.get_sent_edoc_list(doc_id) if r["receiveStatus"] == receive_status
        ],
        what=f"status {receive_status} in the sender's sent list",
        timeout=30,
    )
    return row


def _status(client: VxpClient, sender: str, to: str, document_id: str, code: str) -> None:
    data = make_status(sender=sender, response_to=to, document_id=document_id, status_code=code)
    client.send_edoc(data, from_code=sender, kind=MessageKind.STATUS)


def test_a_commune_writes_to_a_ministry_and_the_ministry_answers_03(
    levels: Levels, commune: VxpClient, ministry: VxpClient
) -> None:
    package, data = edoc_for(AGENCY_A, [G22])
    doc_id = commune.send_edoc(data, from_code=AGENCY_A, to_codes=[G22])

    ((item, got),) = drain(ministry, expect=1, timeout=30)
    assert item.from_code == AGENCY_A
    assert H41_HOP in got
    assert got.count(AXIS_HOP) == data.count(AXIS_HOP) + 1

    _status(ministry, G22, AGENCY_A, package.document_id, "03")
    ((status_item, status),) = drain(commune, expect=1, kind=MessageKind.STATUS, timeout=30)
    assert status_item.from_code == G22
    assert b"<edXML:StatusCode>03</edXML:StatusCode>" in status
    assert _sent_row(commune, doc_id, "03")["toCode"] == G22


def test_a_department_writes_to_another_provinces_department_through_the_axis(
    levels: Levels, dept41: VxpClient, dept14: VxpClient
) -> None:
    package, data = edoc_for(DEPT_H41, [DEPT_H14])
    doc_id = dept41.send_edoc(data, from_code=DEPT_H41, to_codes=[DEPT_H14])

    ((item, got),) = drain(dept14, expect=1, timeout=30)
    assert item.from_code == DEPT_H41
    # Three hops appended, in the order travelled: H41, the axis, H14 (QCVN 102 §2.3).
    assert got.index(H41_HOP) < got.rindex(AXIS_HOP) < got.index(H14_HOP)
    assert package.document_id in levels.axis_saw()

    for code in ("02", "03", "06"):  # one at a time: each must come back before the next
        _status(dept14, DEPT_H14, DEPT_H41, package.document_id, code)
        ((_, status),) = drain(dept41, expect=1, kind=MessageKind.STATUS, timeout=30)
        assert f"<edXML:StatusCode>{code}</edXML:StatusCode>".encode() in status
        assert _sent_row(dept41, doc_id, code)["toCode"] == DEPT_H14
    wait_for(
        lambda: [r for r in dept41.get_sent_edoc_list(doc_id) if r["sendStatus"] == "done"],
        what="the far department's 'done' in the sender's sent list",
        timeout=30,
    )


def test_a_commune_writing_to_its_province_stays_inside_the_province(
    levels: Levels, commune: VxpClient
) -> None:
    package, data = edoc_for(AGENCY_A, [H41_ROOT])
    doc_id = commune.send_edoc(data, from_code=AGENCY_A, to_codes=[H41_ROOT])

    with levels.client(levels.h41, SYS_UBND_H41, SECRET_UBND_H41) as ubnd:
        ((item, got),) = drain(ubnd, expect=1, timeout=30)
    assert item.from_code == AGENCY_A
    assert AXIS_HOP not in got
    wait_for(
        lambda: [r for r in commune.get_sent_edoc_list(doc_id) if r["sendStatus"] == "done"],
        what="the committee's 'done' in the commune's sent list",
    )
    assert package.document_id not in levels.axis_saw()


def test_a_package_to_a_closed_district_reaches_its_successor(
    levels: Levels, dept41: VxpClient
) -> None:
    package, data = edoc_for(DEPT_H41, [CLOSED_DISTRICT])
    dept41.send_edoc(data, from_code=DEPT_H41, to_codes=[CLOSED_DISTRICT])

    with levels.client(levels.h41, SYSTEM_B, SECRET_B) as successor:
        ((item, _got),) = drain(successor, expect=1, timeout=30)
    assert item.from_code == DEPT_H41
    assert package.document_id not in levels.axis_saw()


def _revoke_of(sender: str, to: str, document_id: str, number: str) -> bytes:
    _, data = edoc_for(
        sender,
        [to],
        document_id=document_id,
        code_number=number,
        business_type=BussinessDocType.REVOKE,
    )
    return data


def test_a_revoke_before_the_far_recipient_fetched_withdraws_the_document(
    levels: Levels, dept41: VxpClient, dept14: VxpClient
) -> None:
    package, data = edoc_for(DEPT_H41, [DEPT_H14])
    dept41.send_edoc(data, from_code=DEPT_H41, to_codes=[DEPT_H14])
    # In H14's inbox, listed but not taken (the list does not fetch).
    wait_for(dept14.get_received_edoc_list, what="the original in H14's inbox", timeout=30)

    number = package.header.code.code_number if package.header.code else "1"
    revoke = _revoke_of(DEPT_H41, DEPT_H14, package.document_id, number)
    dept41.send_edoc(revoke, from_code=DEPT_H41, to_codes=[DEPT_H14])

    def withdrawn() -> list[str]:
        return [] if dept14.get_received_edoc_list() else ["empty"]

    wait_for(withdrawn, what="the original withdrawn from H14's inbox", timeout=30)
    assert drain(dept14, expect=0, settle_s=2.0) == []  # neither the original nor the revoke


def test_a_revoke_after_the_far_recipient_fetched_is_delivered(
    levels: Levels, dept41: VxpClient, dept14: VxpClient
) -> None:
    package, data = edoc_for(DEPT_H41, [DEPT_H14])
    dept41.send_edoc(data, from_code=DEPT_H41, to_codes=[DEPT_H14])
    drain(dept14, expect=1, timeout=30)

    number = package.header.code.code_number if package.header.code else "1"
    revoke = _revoke_of(DEPT_H41, DEPT_H14, package.document_id, number)
    dept41.send_edoc(revoke, from_code=DEPT_H41, to_codes=[DEPT_H14])

    ((item, got),) = drain(dept14, expect=1, timeout=30)
    assert item.from_code == DEPT_H41
    assert read(got).business_type is BussinessDocType.REVOKE  # type: ignore[union-attr]


def test_the_axis_down_then_back_delivers_everything_once(
    levels: Levels, dept41: VxpClient, dept14: VxpClient
) -> None:
    axis = levels.proc(levels.axis)
    assert axis.stop()
    sent: dict[str, str] = {}  # code number → the hub's doc id
    for _ in range(3):
        _, data = edoc_for(DEPT_H41, [DEPT_H14])
        sent[number_of(data)] = dept41.send_edoc(data, from_code=DEPT_H41, to_codes=[DEPT_H14])

    # Pushes are accepted locally while the axis is away; the forwards wait and retry.
    time.sleep(4.0)  # several attempts at the short schedule
    waiting = json.loads(levels.h41.cli("deliveries", "--state", "retry_wait", "--json").stdout)
    assert {r["doc_id"] for r in waiting} & set(sent.values())

    levels.axis.start("run", port=levels.ports["axis"])
    received = drain_all(dept14, 3, timeout=60)
    assert sorted(n for _, n in received) == sorted(sent), "each once, none twice"


def test_sigkill_of_the_far_hub_mid_batch_loses_and_doubles_nothing(
    levels: Levels, dept14: VxpClient
) -> None:
    packages = {}
    for _ in range(BATCH):
        _, data = edoc_for(AGENCY_A, [DEPT_H14])
        packages[number_of(data)] = data
    batch = Batch(packages, route=(AGENCY_A, DEPT_H14))
    pusher = threading.Thread(
        target=batch.push_all, args=(levels.proc(levels.h41).url, list(packages))
    )
    pusher.start()
    # Kill H14 once part of the batch has reached its inbox, the rest still on the way.
    (in_inbox,) = wait_for(
        lambda: [n for n in [len(dept14.get_received_edoc_list())] if n >= 5],
        what="the first packages in H14's inbox",
        timeout=60,
    )
    levels.proc(levels.h14).kill()
    assert in_inbox < BATCH, "the kill came after the whole batch had arrived"
    pusher.join(120)
    assert not batch.errors
    assert not batch.unanswered
    assert len(batch.answered) == BATCH

    levels.h14.start("run", port=levels.ports["h14"])
    with levels.client(levels.h14, SYS_DEPT_H14, SECRET_DEPT_H14) as fresh:
        received = drain_all(fresh, BATCH, timeout=120)
    numbers = [n for _, n in received]
    assert sorted(numbers) == sorted(packages), "every package once, none twice"


def test_no_process_logs_a_package_body(levels: Levels) -> None:
    for site in (levels.axis, levels.h41, levels.h14):
        for proc in site.processes:
            assert b"edXMLEnvelope" not in proc.log_path.read_bytes()
