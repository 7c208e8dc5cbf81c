"""Reply encoding (§5) for the façade and reply parsing for the client."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from hub.circuit import Verdict, classify
from hub.edxml.model import MessageKind
from hub.errors import PeerAuthRefused, PeerError, PeerUnavailable
from hub.services.contracts import AgencyRecord, InboxItem, SentRow
from hub.vxp import replies
from hub.vxp.wire import Operation

T = dt.datetime(2025, 11, 21, 5, 4, 54, tzinfo=dt.UTC)


def test_encode_is_ascii_only_and_gson_readable() -> None:
    out = replies.encode(replies.ok(ErrorDesc="Thành công"))
    assert out.isascii()
    assert b"Th\\u00e0nh c\\u00f4ng" in out
    assert json.loads(out)["ErrorDesc"] == "Thành công"


def test_ok_envelope() -> None:
    assert replies.ok(DocId="x") == {
        "status": "OK",
        "ErrorCode": "0",
        "ErrorDesc": "Success",
        "DocId": "x",
    }


@pytest.mark.parametrize(
    ("op", "doc_id", "data"),
    [
        (Operation.SEND_EDOC, True, False),
        (Operation.GET_RECEIVED_EDOC_LIST, False, True),
        (Operation.GET_SENT_EDOC_LIST, False, True),
        (Operation.GET_AGENCIES_LIST, False, True),
        (Operation.GET_AGENCIES_LIST_QD20, False, True),
        (Operation.GET_SYNCHRONIZE_UNIT, False, True),
        (Operation.GET_EDOC, False, False),
        (Operation.UPDATE_STATUS, False, False),
        (None, True, True),
    ],
)
def test_fail_envelope_shape(op: Operation | None, doc_id: bool, data: bool) -> None:
    out = replies.fail(op, "401", "Authentication failed")
    assert out["status"] == "FAIL"
    assert out["ErrorCode"] == "401"
    assert ("DocId" in out) is doc_id
    assert ("data" in out) is data
    if doc_id:
        assert out["DocId"] == ""
    if data:
        assert out["data"] == []


def test_fail_refuses_the_success_code() -> None:
    with pytest.raises(ValueError, match="non-zero"):
        replies.fail(Operation.GET_EDOC, "0", "x")


def test_knobstick_keys_and_times() -> None:
    item = InboxItem("d", "doc", MessageKind.EDOC, "A", "B", "available", "", T, T)
    assert replies.knobstick(item) == {
        "docId": "d",
        "from": "A",
        "to": "B",
        "serviceType": "eDoc",
        "messageType": "edoc",
        "status": "available",
        "status_desc": "",
        "created_time": "2025-11-21 12:04:54",  # ICT by default
        "updated_time": "2025-11-21 12:04:54",
    }
    assert replies.knobstick(item, "UTC")["created_time"] == "2025-11-21 05:04:54"


def test_sent_row_omits_none_never_null() -> None:
    row = SentRow(
        "s", "r", "A", "B", "forwarded", "", "", "", T, None, None, None, MessageKind.EDOC
    )
    out = replies.sent_row(row)
    assert None not in out.values()
    assert "receivedTime" not in out
    assert "title" not in out
    assert out["sendStatus"] == "forwarded"


def test_agency_items() -> None:
    rec = AgencyRecord(
        "7",
        "000.00.00.H41",
        "UBND",
        parent_id="1",
        code_qd20="H41",
        extra={"version": "x"},
        deleted=True,
    )
    assert replies.agency_item(rec) == {
        "id": "7",
        "pid": "1",
        "code": "000.00.00.H41",
        "name": "UBND",
        "mail": "",
    }
    assert replies.agency_qd20_item(rec)["code"] == "H41"
    unit = replies.sync_unit_item(rec)
    assert unit["version"] == 1  # non-numeric versions fall back to an integer
    assert unit["deleted"] is True
    assert "modifyDate" not in unit


def test_parse_reply_accepts_sdk_tolerated_shapes() -> None:
    body = b'{"status":"OK","ErrorCode":0,"ErrorDesc":"Success","data":[]}'
    assert replies.parse_reply(body, Operation.GET_AGENCIES_LIST)["data"] == []


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b'{"status":"FAIL","ErrorCode":"404","ErrorDesc":"kh\\u00f4ng c\\u00f3"}', "không có"),
        (b'{"status":"OK","ErrorCode":"7","ErrorDesc":"odd"}', "ErrorCode 7"),
        (b'{"status":"OK","ErrorCode":"0","ErrorDesc":null}', "envelope"),
        (b"[]", "envelope"),
        (b"\xff", "not JSON"),
    ],
)
def test_parse_reply_refusals(body: bytes, match: str) -> None:
    with pytest.raises(PeerError, match=match):
        replies.parse_reply(body, Operation.GET_EDOC)


def test_parse_rows_and_knobsticks() -> None:
    obj = {
        "data": [
            {"docId": ["x"], "from": "A", "status": 3, "extra": None, "flag": True},
        ]
    }
    (k,) = replies.parse_knobsticks(obj)
    assert (k.doc_id, k.from_code, k.status) == ("x", "A", "3")
    (row,) = replies.parse_rows(obj)
    assert row == {"docId": "x", "from": "A", "status": "3", "flag": "true"}
    with pytest.raises(PeerError, match="unexpected JSON value"):
        replies.parse_rows({"data": [{"a": {"nested": 1}}]})


@pytest.mark.parametrize(
    "desc",
    [
        "Replayed request: these signed headers were already used",
        "Yêu cầu bị phát lại (replay): chữ ký này đã được dùng",
    ],
)
def test_a_replay_refusal_is_transient_not_a_refused_credential(desc: str) -> None:
    body = replies.encode(replies.fail(Operation.SEND_EDOC, "409", desc))
    with pytest.raises(PeerUnavailable) as caught:
        replies.parse_reply(body, Operation.SEND_EDOC)
    assert caught.value.code == replies.REPLAYED
    assert classify(caught.value) is Verdict.FAILURE


def test_a_refused_credential_is_still_an_auth_refusal() -> None:
    body = replies.encode(replies.fail(Operation.SEND_EDOC, "401", "Authentication failed"))
    with pytest.raises(PeerAuthRefused) as caught:
        replies.parse_reply(body, Operation.SEND_EDOC)
    assert classify(caught.value) is Verdict.AUTH_REFUSED
