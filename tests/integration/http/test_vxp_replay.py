"""Repeated signatures against a real façade (uvicorn on loopback) that refuses them.

A replay refusal and a refused credential call for opposite reactions: sign again, or stop and
alert an operator. The façade answers them differently (409 "replay" vs 401 "Authentication
failed"), the client re-signs on the first and the peer's circuit breaker opens only on the
second. The client itself never repeats signed headers, even on a frozen clock.
"""

from __future__ import annotations

import logging

import httpx
import pytest
from http_fakes import G22, H41, SECRET, SYSTEM, Clock

from adapters.http import ApiSettings
from adapters.memory import ManualClock
from adapters.vxp_client import VxpClient
from hub.circuit import BreakerPolicy, BreakerState, CircuitBreaker
from hub.edxml.model import MessageKind
from hub.errors import PeerAuthRefused
from hub.peer_guard import GuardedLink
from hub.vxp.wire import HASH_HEADER, JSON_CT, format_timestamp, sign_headers

PACKAGE = '<?xml version="1.0"?>\r\n<edXML><Subject>Tờ trình</Subject></edXML>'.encode()
EDOC = MessageKind.EDOC
POLICY = BreakerPolicy(failure_threshold=1, cooldown_s=60, auth_cooldown_s=900)


@pytest.fixture
def settings() -> ApiSettings:
    return ApiSettings(
        max_package_bytes=64 * 1024, max_small_body_bytes=4096, zone="UTC", refuse_replays=True
    )


def _breaker() -> CircuitBreaker:
    return CircuitBreaker("axis", "vxp", POLICY, ManualClock())


def test_a_repeated_signature_is_answered_as_a_replay_not_as_a_bad_credential(
    server: str, clock: Clock
) -> None:
    headers = sign_headers(
        system_id=SYSTEM,
        secret=SECRET,
        timestamp=format_timestamp(clock(), "UTC"),
        content_type=JSON_CT,
        params={"servicetype": "eDoc", "messagetype": "edoc"},
    )
    wire = [(k.encode(), v.encode()) for k, v in headers]
    url = server + "/getReceivedEdocList"
    first = httpx.post(url, headers=wire, content=b"")
    again = httpx.post(url, headers=wire, content=b"")
    assert (first.status_code, first.json()["status"]) == (200, "OK")
    assert again.status_code == 409
    reply = again.json()
    assert (reply["status"], reply["ErrorCode"], reply["data"]) == ("FAIL", "409", [])
    assert "replay" in reply["ErrorDesc"].casefold()
    assert "xác thực" not in reply["ErrorDesc"].casefold()


def test_a_replay_from_another_process_is_signed_again_and_the_breaker_stays_closed(
    server: str, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    # Two processes of one hub, one clock reading: the same push signs to the same headers.
    breaker = _breaker()
    with (
        VxpClient(server, SYSTEM, SECRET, zone="UTC", clock=clock) as one,
        VxpClient(server, SYSTEM, SECRET, zone="UTC", clock=clock) as two,
    ):
        first = GuardedLink(one, breaker).send(PACKAGE, from_code=G22, to_codes=[H41], kind=EDOC)
        with caplog.at_level(logging.WARNING, logger="adapters.vxp_client"):
            second = GuardedLink(two, breaker).send(
                PACKAGE,
                from_code=G22,
                to_codes=[H41],
                kind=EDOC,
            )
    assert second == first  # the façade's idempotent sendEdoc: the same DocId
    assert "refused a repeated signature; signing again" in caplog.text
    health = breaker.health
    assert (health.state, health.consecutive_failures, health.alert) == ("closed", 0, None)


def test_one_client_never_repeats_its_signed_headers_on_a_frozen_clock(
    server: str, clock: Clock
) -> None:
    sent: list[str] = []

    def record(request: httpx.Request) -> None:
        sent.append(request.headers[HASH_HEADER])

    http = httpx.Client(event_hooks={"request": [record]})
    with http, VxpClient(server, SYSTEM, SECRET, zone="UTC", clock=clock, http=http) as client:
        client.send_edoc(PACKAGE, from_code=G22, to_codes=[H41])
        for _ in range(5):
            client.get_received_edoc_list()
        (item,) = client.get_received_edoc_list()
        client.update_status(item.doc_id, "done")
        client.update_status(item.doc_id, "done")
    assert len(sent) == 9  # the façade refused none of them
    assert len(set(sent)) == 9


def test_a_wrong_secret_still_opens_the_breaker_with_an_alert(server: str, clock: Clock) -> None:
    breaker = _breaker()
    with (
        VxpClient(server, SYSTEM, "not-the-secret", zone="UTC", clock=clock) as client,
        pytest.raises(PeerAuthRefused),
    ):
        GuardedLink(client, breaker).send(PACKAGE, from_code=G22, to_codes=[H41], kind=EDOC)
    health = breaker.health
    assert health.state == BreakerState.OPEN
    assert "peer.auth_refused" in (health.alert or "")
