"""The lgsp adapter's reading of the wire and its token clock, without a network.

The gateway here is :class:`httpx.MockTransport` answering canned JSON, so the clock can be
moved instead of slept; the same behaviours run against a real token-issuing gateway in
``tests/integration/peers/test_lgsp_peer.py``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from adapters.peers.lgsp import LgspClient, default_token_url
from adapters.peers.lgsp_wire import as_list, transport_status, when
from adapters.peers.oauth2 import DEFAULT_LIFETIME_S, ClientCredentials, refresh_margin
from hub.edxml.model import MessageKind
from hub.errors import PeerError
from hub.services.contracts import TransportStatus


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _token_endpoint(answer: dict[str, Any], calls: list[httpx.Request]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=answer)

    return httpx.Client(transport=httpx.MockTransport(handle))


@pytest.mark.parametrize(
    ("answer", "lifetime"),
    [
        ({"access_token": "t", "token_type": "Bearer", "expires_in": 3600}, 3600.0),
        ({"access_token": "t", "token_type": "bearer", "expires_in": "120"}, 120.0),
        ({"access_token": "t", "token_type": "Bearer"}, DEFAULT_LIFETIME_S),
        ({"access_token": "t", "expires_in": -5}, DEFAULT_LIFETIME_S),
    ],
)
def test_a_token_is_renewed_one_margin_before_its_expiry(
    answer: dict[str, Any], lifetime: float
) -> None:
    clock, calls = _Clock(), []
    tokens = ClientCredentials(
        "https://lgsp.example/token", "hub", "s", http=_token_endpoint(answer, calls), clock=clock
    )
    tokens.token()
    clock.now += lifetime - refresh_margin(lifetime) - 0.001
    tokens.token()
    assert len(calls) == 1
    clock.now += 0.002
    tokens.token()
    assert len(calls) == 2
    assert calls[0].headers["authorization"].startswith("Basic ")
    assert calls[0].content == b"grant_type=client_credentials"


def test_a_late_401_does_not_discard_the_token_that_replaced_it() -> None:
    calls: list[httpx.Request] = []
    http = _token_endpoint({"access_token": "t1", "expires_in": 60}, calls)
    tokens = ClientCredentials("https://lgsp.example/token", "hub", "s", http=http)
    tokens.token()
    tokens.invalidate("an-older-token")
    tokens.token()
    assert len(calls) == 1
    tokens.invalidate("t1")
    tokens.token()
    assert len(calls) == 2


@pytest.mark.parametrize(
    "answer", [{"token_type": "Bearer"}, {"access_token": "t", "token_type": "mac"}]
)
def test_a_token_answer_without_a_bearer_token_is_a_reply_error(answer: dict[str, Any]) -> None:
    http = _token_endpoint(answer, [])
    with pytest.raises(PeerError) as caught:
        ClientCredentials("https://lgsp.example/token", "hub", "s", http=http).token()
    assert caught.value.code == "oauth2.reply"


def test_the_default_token_path_is_at_the_gateway_origin() -> None:
    url = default_token_url("https://lgsp.nghean.gov.vn:8243/lienthong/1.0")
    assert url == "https://lgsp.nghean.gov.vn:8243/token"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"thoiGian": "2024-03-15T09:30:00"}, dt.datetime(2024, 3, 15, 2, 30, tzinfo=dt.UTC)),
        ({"createdAt": "2024-03-15T02:30:00Z"}, dt.datetime(2024, 3, 15, 2, 30, tzinfo=dt.UTC)),
        ({"ngayTao": 1710469800000}, dt.datetime(2024, 3, 15, 2, 30, tzinfo=dt.UTC)),
        ({"createdAt": "15/03/2024"}, None),
        ({}, None),
    ],
)
def test_times_are_read_as_utc(entry: dict[str, Any], expected: dt.datetime | None) -> None:
    assert when(entry) == expected


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("done", TransportStatus.DONE),
        ("Thành công", TransportStatus.DONE),
        ("SUCCESS", TransportStatus.DONE),
        ("fail", TransportStatus.FAIL),
        ("tu_choi", TransportStatus.FAIL),
        ("Lỗi", TransportStatus.FAIL),
        ("pending", TransportStatus.PROCESSING),
        ("05", TransportStatus.PROCESSING),
    ],
)
def test_recipient_status_words_map_to_transport_statuses(
    word: str, status: TransportStatus
) -> None:
    assert transport_status(word, None)[0] is status


@pytest.mark.parametrize(
    "answer",
    [[{"docId": "a"}], {"data": [{"docId": "a"}]}, {"danhSach": [{"docId": "a"}], "tong": 1}],
)
def test_lists_come_bare_or_wrapped(answer: Any) -> None:
    assert as_list(answer, "p", "list") == [{"docId": "a"}]


@pytest.mark.parametrize("answer", [{"docId": "a"}, ["a"], "text"])
def test_an_answer_that_is_no_list_of_objects_is_a_reply_error(answer: Any) -> None:
    with pytest.raises(PeerError) as caught:
        as_list(answer, "p", "list")
    assert caught.value.code == "lgsp.reply"


def _gateway(vanbans: Callable[[httpx.Request], Any]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 60})
        return httpx.Response(200, content=json.dumps(vanbans(request)).encode())

    return httpx.Client(transport=httpx.MockTransport(handle))


def test_pending_is_oldest_first_of_the_kind_asked_and_capped() -> None:
    listing = [
        {"docId": "c", "messageType": "edoc", "createdAt": "2024-03-15T10:00:00+07:00"},
        {"docId": "s", "messageType": "status", "createdAt": "2024-03-15T08:00:00+07:00"},
        {"docId": "a", "createdAt": "2024-03-15T08:30:00+07:00"},
        {"docId": "b", "messageType": "EDOC", "createdAt": "2024-03-15T09:00:00+07:00"},
    ]
    seen: list[httpx.Request] = []

    def vanbans(request: httpx.Request) -> Any:
        seen.append(request)
        return {"data": listing}

    client = LgspClient("p", "https://lgsp.example/api", "hub", "s", http=_gateway(vanbans))
    items = client.pending(MessageKind.EDOC, limit=2)
    assert [item.remote_id for item in items] == ["a", "b"]
    assert seen[0].url.params["loaiBanTin"] == "edoc"
    assert seen[0].headers["authorization"] == "Bearer t"
