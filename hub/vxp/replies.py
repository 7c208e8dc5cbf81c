"""VXP JSON replies (``vxp-protocol.md`` §5): written by the façade, read by the hub's client.

Writing. Every reply is one JSON object serialised ASCII-only (``\\uXXXX`` for Vietnamese): the
SDK reads ``sendEdoc`` replies as US-ASCII (§4) and the rest as UTF-8, so ASCII is safe on both
paths. The envelope keys ``status`` / ``ErrorCode`` / ``ErrorDesc`` are always present and
never ``null`` (a missing one nulls the whole SDK result); ``sendEdoc`` replies always carry
``DocId`` (``""`` on errors) and list replies always carry ``data`` (``[]`` on errors). Inside
``data`` items a ``None`` value is *omitted*, never written as ``null``: one ``null`` aborts the
whole list in the SDK while the status still says success.

Reading (:func:`parse_reply`). The hub as a VXP client accepts what the SDK accepts and turns
``FAIL`` into :class:`hub.errors.PeerError` carrying the peer's ``ErrorDesc``. Two refusals
are told apart because they call for opposite reactions: a refused credential
(:class:`hub.errors.PeerAuthRefused`: an operator must act, the peer's breaker opens for long)
and a refused *replay* (:class:`hub.errors.PeerUnavailable` with :data:`REPLAYED`: the same
request signed again is accepted, so it is retried like a transient fault).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from hub.delivery import State
from hub.errors import PeerAuthRefused, PeerBadReply, PeerError, PeerUnavailable
from hub.services.contracts import AgencyRecord, InboxItem, SentRow, TransportStatus
from hub.vxp.wire import DEFAULT_ZONE, LIST_OPERATIONS, Operation

OK = "OK"
FAIL = "FAIL"
SUCCESS_CODE = "0"
SUCCESS_DESC = "Success"
#: The code of :class:`hub.errors.PeerUnavailable` raised for a peer's replay refusal.
REPLAYED = "vxp.replayed"


def encode(obj: Mapping[str, Any]) -> bytes:
    """``obj`` as ASCII-only compact JSON bytes."""
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def ok(**extra: Any) -> dict[str, Any]:
    """A success envelope with the operation-specific keys ``extra``."""
    return {"status": OK, "ErrorCode": SUCCESS_CODE, "ErrorDesc": SUCCESS_DESC, **extra}


def fail(operation: Operation | None, error_code: str, desc: str) -> dict[str, Any]:
    """A failure envelope shaped for ``operation`` (``DocId``/``data`` added where read).

    ``error_code`` must be a non-zero string (the façade uses the HTTP status, e.g. ``"401"``).
    For an unknown operation both ``DocId`` and ``data`` are included: harmless to the SDK.
    """
    if error_code == SUCCESS_CODE:
        raise ValueError("a failure reply needs a non-zero ErrorCode")
    out: dict[str, Any] = {"status": FAIL, "ErrorCode": error_code, "ErrorDesc": desc}
    if operation is None or operation is Operation.SEND_EDOC:
        out["DocId"] = ""
    if operation is None or operation in LIST_OPERATIONS:
        out["data"] = []
    return out


def wire_time(moment: dt.datetime | None, zone: str = DEFAULT_ZONE) -> str | None:
    """``yyyy-MM-dd HH:mm:ss`` in ``zone`` (the SDK does not parse it; §9 suggests ICT)."""
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def _item(pairs: Mapping[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values: a JSON ``null`` inside ``data`` aborts the SDK's whole list."""
    return {k: v for k, v in pairs.items() if v is not None}


def knobstick(item: InboxItem, zone: str = DEFAULT_ZONE) -> dict[str, Any]:
    """A ``getReceivedEdocList`` item (§5.2): note the snake_case keys the SDK expects."""
    return _item(
        {
            "docId": item.delivery_id,
            "from": item.from_code,
            "to": item.to_code,
            "serviceType": "eDoc",
            "messageType": str(item.kind),
            "status": item.state,
            "status_desc": item.state_desc,
            "created_time": wire_time(item.created_at, zone),
            "updated_time": wire_time(item.updated_at, zone),
        }
    )


#: Delivery states the SDK's vocabulary has no word for, as the word it knows for the same
#: outcome (``fail``: the copy will not arrive); ``sendStatusDesc`` keeps the hub's account.
_SEND_STATUS_WORDS = {State.DISCARDED.value: TransportStatus.FAIL.value}


def sent_row(row: SentRow, zone: str = DEFAULT_ZONE) -> dict[str, Any]:
    """A ``getSentEdocList`` row (§5.2), all values strings."""
    return _item(
        {
            "senderDocId": row.doc_id,
            "receiverDocId": row.delivery_id,
            "fromCode": row.from_code,
            "toCode": row.to_code,
            "sendStatus": _SEND_STATUS_WORDS.get(row.send_status, row.send_status),
            "sendStatusDesc": row.send_status_desc,
            "receiveStatus": row.receive_status,
            "receiveStatusDesc": row.receive_status_desc,
            "sentTime": wire_time(row.sent_at, zone),
            "receivedTime": wire_time(row.received_at, zone),
            "title": row.title,
            "notation": row.notation,
            "serviceType": "eDoc",
            "messageType": str(row.kind),
        }
    )


def agency_item(rec: AgencyRecord) -> dict[str, Any]:
    """A ``getAgenciesList`` item: ``id``, ``pid``, ``code``, ``name``, ``mail``, ``oldCode``."""
    return _item(
        {
            "id": rec.id,
            "pid": rec.parent_id or "",
            "code": rec.code,
            "name": rec.name,
            "mail": rec.mail or "",
            "oldCode": rec.old_code,
        }
    )


def agency_qd20_item(rec: AgencyRecord) -> dict[str, Any]:
    """A ``getAgenciesListQD20`` item: ``code102`` is the QCVN 102 code, ``code`` the QĐ 20 one."""
    return _item(
        {
            "id": rec.id,
            "code": rec.code_qd20 or rec.code,
            "name": rec.name,
            "mail": rec.mail or "",
            "code102": rec.code,
        }
    )


def sync_unit_item(rec: AgencyRecord) -> dict[str, Any]:
    """A ``getSynchronizeUnit`` item; ``version`` is an integer, the flags JSON booleans."""
    version = rec.extra.get("version", "1")
    return _item(
        {
            "id": rec.id,
            "pid": rec.parent_id or "",
            "code": rec.code,
            "name": rec.name,
            "mail": rec.mail or "",
            "centerCode": rec.extra.get("centerCode"),
            "version": int(version) if version.isdigit() else 1,
            "deleted": rec.deleted,
            "modifyDate": rec.modified_at.date().isoformat() if rec.modified_at else None,
            "isAgency": rec.extra.get("isAgency", "true") != "false",
        }
    )


# --- reading replies (the hub as a VXP client) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Knobstick:
    """One ``getReceivedEdocList`` item as a peer reported it (all text, unparsed)."""

    doc_id: str
    from_code: str = ""
    to: str = ""
    service_type: str = ""
    message_type: str = ""
    status: str = ""
    status_desc: str = ""
    created_time: str = ""
    updated_time: str = ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and len(value) == 1:  # the SDK unwraps one-element arrays
        return _text(value[0])
    if isinstance(value, str | int | float):
        return str(value)
    raise PeerError(f"unexpected JSON value in reply: {type(value).__name__}", code="vxp.reply")


#: ``ErrorCode`` values and ``ErrorDesc`` words by which a VXP server says "who are you?": the
#: façade answers ``401`` + "Authentication failed" (§8 step 4); the national axis' texts vary.
_AUTH_CODES = frozenset({"401", "403"})
_AUTH_WORDS = ("authentication failed", "unauthorized", "forbidden", "xác thực")


def refuses_credential(error_code: str, desc: str) -> bool:
    """True when a FAIL envelope refuses the caller's credential rather than the request."""
    text = desc.casefold()
    return error_code in _AUTH_CODES or any(word in text for word in _AUTH_WORDS)


def is_replay(error_code: str, desc: str) -> bool:
    """True when a FAIL envelope refuses a *repeated signature* (``ErrorCode`` ``409`` and the
    word "replay", which the façade writes in both languages) rather than the credential."""
    return error_code == "409" and "replay" in desc.casefold()


def parse_reply(body: bytes, operation: Operation) -> dict[str, Any]:
    """Decode a peer's reply; raises :class:`PeerError` on FAIL or a malformed envelope.

    Returns the JSON object (``status`` ``OK``, ``ErrorCode`` ``0``). Only JSON objects are
    accepted — an HTML page or empty body is :class:`PeerBadReply` (a peer fault, retried),
    not "no documents" (§5.1); a refused credential is :class:`PeerAuthRefused`; a refused
    replay is :class:`PeerUnavailable` with code :data:`REPLAYED` (sign again and retry).
    """
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise PeerBadReply(
            f"{operation}: reply is not JSON ({len(body)} bytes)", code="vxp.reply"
        ) from None
    if not isinstance(obj, dict) or any(
        obj.get(k) is None for k in ("status", "ErrorCode", "ErrorDesc")
    ):
        raise PeerBadReply(f"{operation}: reply lacks the status envelope", code="vxp.reply")
    status, code, desc = _text(obj["status"]), _text(obj["ErrorCode"]), _text(obj["ErrorDesc"])
    if (status == FAIL or code != SUCCESS_CODE) and is_replay(code, desc):
        raise PeerUnavailable(
            f"{operation}: the peer refused a repeated signature: {desc} (ErrorCode {code})",
            message_vi=f"{operation}: hệ thống bạn từ chối chữ ký lặp lại: {desc} "
            f"(ErrorCode {code})",
            code=REPLAYED,
            details={"ErrorCode": code, "ErrorDesc": desc},
        )
    if (status == FAIL or code != SUCCESS_CODE) and refuses_credential(code, desc):
        raise PeerAuthRefused(
            f"{operation}: the peer refused this hub's credential: {desc} (ErrorCode {code})",
            message_vi=f"{operation}: trục/hệ thống bạn từ chối thông tin xác thực của hệ "
            f"thống này: {desc} (ErrorCode {code})",
            details={"ErrorCode": code, "ErrorDesc": desc},
        )
    if status == FAIL or code != SUCCESS_CODE:
        raise PeerError(
            f"{operation} refused by peer: {desc} (ErrorCode {code})",
            code="vxp.fail",
            details={"ErrorCode": code, "ErrorDesc": desc},
        )
    if operation in LIST_OPERATIONS and not isinstance(obj.get("data"), list):
        raise PeerError(f"{operation}: reply has no data list", code="vxp.reply")
    return obj


def parse_knobsticks(obj: Mapping[str, Any]) -> list[Knobstick]:
    """The items of a parsed ``getReceivedEdocList`` reply; items without ``docId`` are errors."""
    out = []
    for raw in obj["data"]:
        if not isinstance(raw, dict) or not raw.get("docId"):
            raise PeerError("getReceivedEdocList item without docId", code="vxp.reply")
        out.append(
            Knobstick(
                doc_id=_text(raw["docId"]),
                from_code=_text(raw.get("from")),
                to=_text(raw.get("to")),
                service_type=_text(raw.get("serviceType")),
                message_type=_text(raw.get("messageType")),
                status=_text(raw.get("status")),
                status_desc=_text(raw.get("status_desc")),
                created_time=_text(raw.get("created_time")),
                updated_time=_text(raw.get("updated_time")),
            )
        )
    return out


def parse_rows(obj: Mapping[str, Any]) -> list[dict[str, str]]:
    """The items of a parsed list reply as text maps (sent rows, agencies, units)."""
    rows = []
    for raw in obj["data"]:
        if not isinstance(raw, dict):
            raise PeerError("list item is not an object", code="vxp.reply")
        rows.append({str(k): _text(v) for k, v in raw.items() if v is not None})
    return rows
