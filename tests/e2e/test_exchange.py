"""Two agency systems exchange documents through a real ``lienthong run`` process.

Both systems speak VXP through :class:`adapters.vxp_client.VxpClient` (the SDK's requests byte
for byte, HMAC included) over loopback HTTP; the hub runs on SQLite + the embedded broker and on
PostgreSQL + RabbitMQ (``site`` fixture). System A hosts the commune ``AGENCY_A``, system B the
commune ``AGENCY_B`` (the successor of the closed district ``CLOSED_DISTRICT``).

Every test leaves both inboxes empty (it acknowledges what it received), so the module's tests
share one hub process without seeing each other's deliveries.
"""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest
from e2e_support import (
    AGENCY_A,
    AGENCY_B,
    CLOSED_DISTRICT,
    ORGAN_ID,
    SECRET_A,
    SECRET_B,
    SYSTEM_A,
    UNKNOWN_AGENCY,
    HubProcess,
    drain,
    edoc_for,
    spliced,
    wait_for,
)

from adapters.vxp_client import VxpClient
from hub.edxml.model import MessageKind
from hub.errors import PeerError
from hub.vxp.wire import JSON_CT, format_timestamp, sign_headers
from tests.factories import make_status

pytestmark = pytest.mark.e2e

FAIL_401 = {"status": "FAIL", "ErrorCode": "401", "ErrorDesc": "Xác thực thất bại", "data": []}


def test_document_status_and_sent_list_round_trip(client_a: VxpClient, client_b: VxpClient) -> None:
    package, data = edoc_for(AGENCY_A, [AGENCY_B])
    doc_id = client_a.send_edoc(data, from_code=AGENCY_A, to_codes=[AGENCY_B])
    uuid.UUID(doc_id)

    (item,) = wait_for(lambda: client_b.get_received_edoc_list(), what="B's inbox")
    assert (item.from_code, item.to, item.message_type) == (AGENCY_A, AGENCY_B, "edoc")
    assert client_b.count_receive_edoc() == 1
    got = client_b.get_edoc(item.doc_id)
    assert client_b.download_edoc(item.doc_id) == got
    added = spliced(data, got)
    # QCVN 102 §2.3: each hub a package passes appends a TraceHeader naming itself.
    assert added.count(b"TraceHeader>") == 2, added
    assert f"<edXML:OrganId>{ORGAN_ID}</edXML:OrganId>".encode() in added, added
    assert got.index(added) > got.index(b"TraceHeaderList>"), "appended outside TraceHeaderList"

    client_b.update_status(item.doc_id, "done")
    assert client_b.get_received_edoc_list() == []
    assert client_b.count_receive_edoc() == 0
    (row,) = client_a.get_sent_edoc_list(doc_id)
    assert (row["senderDocId"], row["receiverDocId"]) == (doc_id, item.doc_id)
    assert (row["toCode"], row["sendStatus"]) == (AGENCY_B, "done")

    # B answers with business status 03 (Đã tiếp nhận / accepted) about A's document.
    status = make_status(
        sender=AGENCY_B,
        status_code="03",
        response_to=AGENCY_A,
        document_id=package.header.document_id,
        code=f"{package.header.code.code_number}/{package.header.code.code_notation}",
        description="Đã tiếp nhận",
    )
    status_id = client_b.send_edoc(
        status, from_code=AGENCY_B, to_codes=[AGENCY_A], kind=MessageKind.STATUS
    )
    assert status_id != doc_id
    (st,) = wait_for(
        lambda: client_a.get_received_edoc_list(MessageKind.STATUS), what="A's status inbox"
    )
    assert (st.from_code, st.message_type) == (AGENCY_B, "status")
    assert client_a.count_receive_status() == 1
    added = spliced(status, client_a.get_edoc(st.doc_id))
    assert f"<edXML:OrganId>{ORGAN_ID}</edXML:OrganId>".encode() in added, added
    client_a.update_status(st.doc_id, "done")
    assert client_a.get_received_edoc_list(MessageKind.STATUS) == []

    (row,) = wait_for(
        lambda: [r for r in client_a.get_sent_edoc_list(doc_id) if r.get("receiveStatus")],
        what="status 03 on A's sent row",
    )
    assert row["receiveStatus"] == "03"
    assert row["receiveStatusDesc"] == "Đã tiếp nhận"


def test_unknown_recipient_is_reported_failed_with_a_reason(
    client_a: VxpClient, client_b: VxpClient
) -> None:
    _, data = edoc_for(AGENCY_A, [UNKNOWN_AGENCY, AGENCY_B])
    doc_id = client_a.send_edoc(data, from_code=AGENCY_A, to_codes=[UNKNOWN_AGENCY, AGENCY_B])
    rows = {r["toCode"]: r for r in client_a.get_sent_edoc_list(doc_id)}
    assert set(rows) == {UNKNOWN_AGENCY, AGENCY_B}
    failed = rows[UNKNOWN_AGENCY]
    assert failed["sendStatus"] == "undeliverable"
    # The reason, for the sender to read: nobody connected to this hub receives that code.
    assert UNKNOWN_AGENCY in failed["sendStatusDesc"], failed
    # The known recipient is not held back by the unknown one.
    received = drain(client_b, expect=1)
    assert [it.to for it, _ in received] == [AGENCY_B]


def test_closed_district_goes_to_its_successor(client_a: VxpClient, client_b: VxpClient) -> None:
    _, data = edoc_for(AGENCY_A, [CLOSED_DISTRICT])
    doc_id = client_a.send_edoc(data, from_code=AGENCY_A, to_codes=[CLOSED_DISTRICT])
    ((item, got),) = drain(client_b, expect=1)
    spliced(data, got)
    assert item.to == AGENCY_B  # the successor's inbox, under the successor's code
    (row,) = client_a.get_sent_edoc_list(doc_id)
    assert row["toCode"] == AGENCY_B
    assert row["receiverDocId"] == item.doc_id
    assert row["sendStatus"] == "done"


def test_duplicate_push_gives_the_same_doc_id_and_one_delivery(
    client_a: VxpClient, client_b: VxpClient
) -> None:
    _, data = edoc_for(AGENCY_A, [AGENCY_B])
    first = client_a.send_edoc(data, from_code=AGENCY_A, to_codes=[AGENCY_B])
    second = client_a.send_edoc(data, from_code=AGENCY_A, to_codes=[AGENCY_B])
    assert second == first
    assert len(client_a.get_sent_edoc_list(first)) == 1
    received = drain(client_b, expect=1)
    assert len(received) == 1
    # And once acknowledged, a third push of the same bytes is still not delivered again.
    assert client_a.send_edoc(data, from_code=AGENCY_A, to_codes=[AGENCY_B]) == first
    assert drain(client_b, expect=0, settle_s=1.5) == []


# --- refusals ---------------------------------------------------------------------------------


def _raw(
    hub: HubProcess, system: str, secret: str, op: str, params: dict[str, str], **kw: object
) -> httpx.Response:
    when = kw.pop("when", None) or dt.datetime.now(dt.UTC)
    assert isinstance(when, dt.datetime)
    headers = sign_headers(
        system_id=system,
        secret=secret,
        timestamp=format_timestamp(when),
        content_type=JSON_CT,
        params=params,
    )
    return httpx.post(f"{hub.url}/{op}", headers=headers, content=b"{}", timeout=10)


def test_bad_hmac_is_refused_with_the_json_envelope(hub: HubProcess) -> None:
    params = {"servicetype": "eDoc", "messagetype": "edoc"}
    r = _raw(hub, SYSTEM_A, SECRET_B, "getReceivedEdocList", params)
    assert (r.status_code, r.json()) == (401, FAIL_401)
    r = _raw(hub, "no.such.system", SECRET_A, "getReceivedEdocList", params)
    assert (r.status_code, r.json()) == (401, FAIL_401)
    ok = _raw(hub, SYSTEM_A, SECRET_A, "getReceivedEdocList", params)
    assert (ok.status_code, ok.json()["status"]) == (200, "OK")


def test_stale_timestamp_is_refused_with_the_json_envelope(hub: HubProcess) -> None:
    params = {"servicetype": "eDoc", "messagetype": "edoc"}
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)  # default window: 300 s
    future = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)  # tolerated lead: 60 s
    for when, why in ((old, "timestamp too old"), (future, "timestamp")):
        r = _raw(hub, SYSTEM_A, SECRET_A, "countReceiveEdoc", params, when=when)
        assert r.status_code == 401
        body = r.json()
        assert (body["status"], body["ErrorCode"]) == ("FAIL", "401")
        # A stale timestamp is the one refusal whose reason the SDK user is told (§8).
        assert body["ErrorDesc"].startswith("Xác thực thất bại"), body
        assert why in body["ErrorDesc"], body
        assert "count" not in body


def test_doc_id_of_another_system_is_refused(
    hub: HubProcess, client_a: VxpClient, client_b: VxpClient
) -> None:
    _, data = edoc_for(AGENCY_A, [AGENCY_B])
    doc_id = client_a.send_edoc(data, from_code=AGENCY_A, to_codes=[AGENCY_B])
    (item,) = wait_for(lambda: client_b.get_received_edoc_list(), what="B's inbox")
    # The sender's own DocId is not a delivery to the sender.
    with pytest.raises(PeerError):
        client_a.get_edoc(doc_id)
    # A knows nothing of B's delivery: no bytes, no acknowledgement, B's copy untouched.
    for op, params in (
        ("getEdoc", {"docId": item.doc_id}),
        ("updateStatus", {"docId": item.doc_id, "status": "done"}),
    ):
        r = _raw(hub, SYSTEM_A, SECRET_A, op, params)
        body = r.json()
        assert body["status"] == "FAIL", (op, body)
        assert "data" not in body or not body["data"], (op, body)
    with pytest.raises(PeerError):
        client_a.get_edoc(item.doc_id)
    assert [i.doc_id for i in client_b.get_received_edoc_list()] == [item.doc_id]
    assert client_b.get_edoc(item.doc_id).startswith(data[:100])
    client_b.update_status(item.doc_id, "done")


def test_both_systems_see_only_their_own_inbox(client_a: VxpClient, client_b: VxpClient) -> None:
    _, data = edoc_for(AGENCY_B, [AGENCY_A])
    client_b.send_edoc(data, from_code=AGENCY_B, to_codes=[AGENCY_A])
    received = drain(client_a, expect=1)
    assert [it.from_code for it, _ in received] == [AGENCY_B]
    assert client_b.get_received_edoc_list() == []
    # Sending as an agency the system does not host is refused, and nothing is delivered.
    _, forged = edoc_for(AGENCY_A, [AGENCY_B])
    with pytest.raises(PeerError) as refused:
        client_b.send_edoc(forged, from_code=AGENCY_A, to_codes=[AGENCY_B])
    assert refused.value.message("en"), refused.value
    assert drain(client_b, expect=0, settle_s=1.0) == []
