"""Two hubs, both ways: a provincial hub (H41) below a second ``lienthong`` process serving as the
national axis (``lienthong run --role national``).

The national site connects a ministry's QLVB (``qlvb.vpcp``, hosting G22 and G09) and the
provincial hub as an ordinary system (``hub.h41``, hosting the province's root agency). The
provincial site is wired to it by three variables only — ``LIENTHONG_NATIONAL_ENDPOINT``,
``LIENTHONG_NATIONAL_SYSTEM_ID``, ``LIENTHONG_NATIONAL_SECRET`` — registers the communes its
systems host at the parent (``registerAgency``), polls the parent's inbox for them, forwards
what leaves the province, and tracks what became of it. Everything goes through real processes,
real HTTP and the VXP HMAC on both hops.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from e2e_support import (
    AGENCY_A,
    AGENCY_B,
    BACKENDS,
    SECRET_A,
    SECRET_B,
    SYSTEM_A,
    SYSTEM_B,
    HubSite,
    drain,
    edoc_for,
    make_site,
    parent_env,
    wait_for,
)

from adapters.vxp_client import VxpClient
from hub.edxml.model import BussinessDocType, MessageKind
from hub.edxml.reader import read
from tests.factories import make_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

G22 = "000.00.00.G22"
G09 = "000.00.00.G09"
H41_ROOT = "000.00.00.H41"
VPCP, VPCP_SECRET = "qlvb.vpcp", "e2e-secret-of-the-ministry"
CHILD, CHILD_SECRET = "hub.h41", "e2e-secret-of-the-provincial-hub"


class Pair:
    """The national site and the provincial site, both running."""

    def __init__(self, national: HubSite, province: HubSite) -> None:
        self.national = national
        self.province = province
        self.national_proc = national.processes[0]
        self.province_proc = province.processes[0]

    def hosted_at_parent(self) -> list[str]:
        systems = json.loads(self.national.cli("systems", "list", "--json").stdout)
        return next(s["agencies"] for s in systems if s["system_id"] == CHILD)


@pytest.fixture(scope="module", params=BACKENDS)
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    backend = str(request.param)
    with (
        make_site(request, backend, tmp_path_factory.mktemp(f"national-{backend}")) as national,
        make_site(request, backend, tmp_path_factory.mktemp(f"h41-{backend}")) as province,
    ):
        national.env["LIENTHONG_ORGAN_ID"] = G22
        national.env["LIENTHONG_ROLE"] = "national"
        national.add_system(VPCP, [G22, G09], VPCP_SECRET)
        national.add_system(CHILD, [H41_ROOT], CHILD_SECRET)
        parent = national.start("run")

        # The provincial hub refuses unsigned mail from G09 (its own policy, not the parent's).
        settings = province.data_dir / "settings.yaml"
        settings.write_text(
            "hub: {organ_id: '000.00.00.H41', scope: [H41, K41]}\n"
            "policy: {senders: {'000.00.00.G09': {envelope_missing: refuse}}}\n",
            encoding="utf-8",
        )
        province.env["LIENTHONG_SETTINGS"] = str(settings)
        province.env.update(parent_env(parent.url + "/", CHILD, CHILD_SECRET))
        province.add_system(SYSTEM_A, [AGENCY_A], SECRET_A)
        province.add_system(SYSTEM_B, [AGENCY_B], SECRET_B)
        province.start("run")
        found = Pair(national, province)
        wait_for(
            lambda: [c for c in found.hosted_at_parent() if c in (AGENCY_A, AGENCY_B)][1:],
            what="the communes registered at the parent",
            timeout=60,
        )
        yield found


@pytest.fixture(scope="module")
def ministry(pair: Pair) -> Iterator[VxpClient]:
    with pair.national.client(VPCP, VPCP_SECRET, pair.national_proc) as c:
        yield c


@pytest.fixture(scope="module")
def commune(pair: Pair) -> Iterator[VxpClient]:
    with pair.province.client(SYSTEM_A, SECRET_A, pair.province_proc) as c:
        yield c


def test_a_ministry_document_reaches_the_commune_and_its_status_comes_back(
    pair: Pair, ministry: VxpClient, commune: VxpClient
) -> None:
    package, data = edoc_for(G22, [AGENCY_A])
    doc_id = ministry.send_edoc(data, from_code=G22, to_codes=[AGENCY_A])

    ((item, got),) = drain(commune, expect=1, timeout=30)
    assert item.from_code == G22
    assert got.startswith(data[: data.index(b"TraceHeaderList")])  # the sender's bytes
    # Both hubs appended their hop (QCVN 102 §2.3): the axis, then the province.
    national_hop = b"<edXML:OrganId>000.00.00.G22</edXML:OrganId>"
    province_hop = b"<edXML:OrganId>000.00.00.H41</edXML:OrganId>"
    assert got.count(national_hop) == data.count(national_hop) + 1
    assert province_hop not in data
    assert province_hop in got

    status = make_status(
        sender=AGENCY_A, response_to=G22, document_id=package.document_id, status_code="03"
    )
    commune.send_edoc(status, from_code=AGENCY_A, kind=MessageKind.STATUS)

    drain(ministry, expect=1, kind=MessageKind.STATUS, timeout=30)
    rows = wait_for(
        lambda: [r for r in ministry.get_sent_edoc_list(doc_id) if r["receiveStatus"] == "03"],
        what="status 03 in the ministry's sent list",
        timeout=30,
    )
    assert rows[0]["toCode"] == AGENCY_A


def test_a_commune_document_reaches_the_ministry_and_the_commune_sees_what_became_of_it(
    pair: Pair, ministry: VxpClient, commune: VxpClient
) -> None:
    package, data = edoc_for(AGENCY_A, [G22])
    doc_id = commune.send_edoc(data, from_code=AGENCY_A, to_codes=[G22])

    ((item, _got),) = drain(ministry, expect=1, timeout=30)  # taken and acknowledged done
    assert item.from_code == AGENCY_A

    # The provincial hub asks the parent (getSentEdocList) and shows the remote state.
    wait_for(
        lambda: [r for r in commune.get_sent_edoc_list(doc_id) if r["sendStatus"] == "done"],
        what="the remote state 'done' in the commune's sent list",
        timeout=30,
    )

    answer = make_status(
        sender=G22, response_to=AGENCY_A, document_id=package.document_id, status_code="05"
    )
    ministry.send_edoc(answer, from_code=G22, kind=MessageKind.STATUS)

    drain(commune, expect=1, kind=MessageKind.STATUS, timeout=30)
    (row,) = commune.get_sent_edoc_list(doc_id)
    assert (row["toCode"], row["receiveStatus"]) == (G22, "05")


def test_a_ministry_revoke_reaches_the_commune_that_took_the_original(
    pair: Pair, ministry: VxpClient, commune: VxpClient
) -> None:
    package, data = edoc_for(G22, [AGENCY_A])
    ministry.send_edoc(data, from_code=G22, to_codes=[AGENCY_A])
    drain(commune, expect=1, timeout=30)

    _, revoke = edoc_for(
        G22,
        [AGENCY_A],
        document_id=package.document_id,
        code_number=package.header.code.code_number if package.header.code else "1",
        business_type=BussinessDocType.REVOKE,
    )
    ministry.send_edoc(revoke, from_code=G22, to_codes=[AGENCY_A])

    ((item, got),) = drain(commune, expect=1, timeout=30)
    assert item.from_code == G22
    assert read(got).business_type is BussinessDocType.REVOKE  # type: ignore[union-attr]


def test_a_package_the_province_refuses_is_acknowledged_fail_and_listed_for_it_staff(
    pair: Pair, ministry: VxpClient, commune: VxpClient
) -> None:
    _package, data = edoc_for(G09, [AGENCY_A])
    ministry.send_edoc(data, from_code=G09, to_codes=[AGENCY_A])

    def refused() -> list[dict[str, str]]:
        out = pair.province.cli("inbound", "list", "--refused", "--json").stdout
        return [r for r in json.loads(out) if r["acked_at"]]

    (row,) = wait_for(refused, what="the refused item in `lienthong inbound list`", timeout=30)
    assert row["peer"] == "national"
    assert row["reason"].startswith("policy.signature.missing")
    assert drain(commune, expect=0, settle_s=1.0) == []  # never delivered
    # The parent lists the failed item again; the province does not take it again.
    again = pair.province.cli("inbound", "list", "--json").stdout
    assert [r["remote_id"] for r in json.loads(again)].count(row["remote_id"]) == 1


def test_removing_a_system_withdraws_its_agencies_at_the_parent(pair: Pair) -> None:
    assert AGENCY_B in pair.hosted_at_parent()

    pair.province.cli("systems", "remove", SYSTEM_B)

    assert AGENCY_B not in pair.hosted_at_parent()
    assert AGENCY_A in pair.hosted_at_parent()


def test_both_processes_log_no_package_bodies(pair: Pair) -> None:
    for proc in (pair.national_proc, pair.province_proc):
        assert b"edXMLEnvelope" not in proc.log_path.read_bytes()
