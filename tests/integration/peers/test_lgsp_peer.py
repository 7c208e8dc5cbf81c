"""The ``lgsp`` peer against a gateway that issues real OAuth2 tokens (oauthlib, uvicorn, loopback).

Two real clients share one gateway, as in a province: the hub (client ``hub-nghean``, serving
H41) and an agency's document system (client ``qlvb-vpcp``, serving G22). What one sends, the
other lists, fetches byte for byte and acknowledges; tokens expire for real.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapters.peers import build_peer
from adapters.peers.lgsp import LgspClient, build
from hub.edxml.model import MessageKind
from hub.errors import PeerAuthRefused, PeerError, PeerUnavailable
from hub.ports import AgencyRow, Peer, RemoteItem
from hub.routing import Scope
from hub.settings import PeerSettings, Secret, SettingsError
from tests.factories import make_edoc, make_status
from tests.integration.peers.lgsp_server import API_PATH, LgspGateway

G22, H41 = "000.00.00.G22", "000.00.00.H41"
HUB, HUB_SECRET = "hub-nghean", "hub-secret-7f3a9c"
QLVB, QLVB_SECRET = "qlvb-vpcp", "qlvb-secret-d41e07"
VANBANS = API_PATH + "/vanbans"


def _settings(gateway: LgspGateway, **options: str) -> PeerSettings:
    return PeerSettings(
        name="lgsp-nghean",
        endpoint=gateway.api_url,
        scope=Scope.parse(["H41"]),
        system_id=HUB,
        secret=Secret(HUB_SECRET),
        kind="lgsp",
        options=options,
    )


@pytest.fixture
def gateway(lgsp_gateway: LgspGateway) -> LgspGateway:
    lgsp_gateway.add_client(HUB, HUB_SECRET, agencies=[H41])
    lgsp_gateway.add_client(QLVB, QLVB_SECRET, agencies=[G22])
    return lgsp_gateway


@pytest.fixture
def hub(gateway: LgspGateway) -> Iterator[LgspClient]:
    with _client(gateway, HUB, HUB_SECRET) as client:
        yield client


@pytest.fixture
def qlvb(gateway: LgspGateway) -> Iterator[LgspClient]:
    with _client(gateway, QLVB, QLVB_SECRET) as client:
        yield client


def _client(gateway: LgspGateway, client_id: str, secret: str, **kw: Any) -> LgspClient:
    return LgspClient(
        "lgsp-nghean", gateway.api_url, client_id, secret, token_url=gateway.token_url, **kw
    )


# --- tokens ---------------------------------------------------------------------------------


def test_one_token_serves_many_calls(gateway: LgspGateway, hub: LgspClient) -> None:
    for _ in range(4):
        assert hub.pending(MessageKind.EDOC) == []
    hub.agencies()
    assert gateway.token_requests[HUB] == 1
    assert [status for _, _, status in gateway.api_calls if status != 200] == []


def test_an_expired_token_is_replaced_before_use() -> None:
    with LgspGateway(token_lifetime_s=1) as gateway:
        gateway.add_client(HUB, HUB_SECRET, agencies=[H41])
        with _client(gateway, HUB, HUB_SECRET) as hub:
            hub.pending(MessageKind.EDOC)
            hub.pending(MessageKind.EDOC)
            assert gateway.token_requests[HUB] == 1
            time.sleep(1.0)  # the gateway's token is now expired (or within the margin)
            hub.pending(MessageKind.EDOC)
        assert gateway.token_requests[HUB] == 2
        # the client renewed ahead of expiry: the gateway never had to answer 401
        assert all(status == 200 for _, path, status in gateway.api_calls if path == VANBANS)


def test_a_401_fetches_one_new_token_and_repeats_the_call(
    gateway: LgspGateway, hub: LgspClient
) -> None:
    hub.pending(MessageKind.EDOC)
    gateway.revoke_tokens()  # the gateway's key manager restarted: the cached token is dead
    assert hub.pending(MessageKind.EDOC) == []
    assert gateway.token_requests[HUB] == 2
    assert [s for _, p, s in gateway.api_calls if p == VANBANS] == [200, 401, 200]


def test_a_fresh_token_refused_again_is_auth_refused_not_a_loop(
    gateway: LgspGateway, hub: LgspClient
) -> None:
    gateway.fail_next(VANBANS, 401, b'{"message": "Invalid Credentials"}')
    gateway.fail_next(VANBANS, 401, b'{"message": "Invalid Credentials"}')
    with pytest.raises(PeerAuthRefused) as caught:
        hub.pending(MessageKind.EDOC)
    assert caught.value.code == "peer.auth_refused"
    assert "Invalid Credentials" in caught.value.message_en
    assert gateway.token_requests[HUB] == 2
    assert [s for _, p, s in gateway.api_calls if p == VANBANS] == [401, 401]


@pytest.mark.parametrize(("client_id", "secret"), [(HUB, "not-the-secret"), ("nobody", HUB_SECRET)])
def test_a_refused_client_credential_is_auth_refused_once_per_call(
    gateway: LgspGateway, client_id: str, secret: str
) -> None:
    with _client(gateway, client_id, secret) as client:
        with pytest.raises(PeerAuthRefused) as caught:
            client.pending(MessageKind.EDOC)
        assert caught.value.code == "peer.auth_refused"
        assert caught.value.details["oauth2_error"] == "invalid_client"
        assert gateway.token_requests[client_id] == 1
        with pytest.raises(PeerAuthRefused):
            client.send(b"<edXML/>", from_code=H41, to_codes=[G22], kind=MessageKind.EDOC)
        assert gateway.token_requests[client_id] == 2
    assert [p for _, p, _ in gateway.api_calls if p != "/token"] == []


def test_threads_share_one_token_request(gateway: LgspGateway, hub: LgspClient) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        try:
            hub.agencies()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert errors == []
    assert gateway.token_requests[HUB] == 1


# --- documents ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gateway_naming", "wrap", "client_naming"),
    [("vi", False, "vi"), ("en", True, "en"), ("en", False, "vi"), ("vi", True, "en")],
)
def test_send_list_fetch_acknowledge(gateway_naming: str, wrap: bool, client_naming: str) -> None:
    data = make_edoc(sender=G22, to=[H41], subject="V/v kiểm tra kết nối LGSP")
    with LgspGateway(naming=gateway_naming, wrap_lists=wrap) as gateway:
        gateway.add_client(HUB, HUB_SECRET, agencies=[H41])
        gateway.add_client(QLVB, QLVB_SECRET, agencies=[G22])
        with (
            _client(gateway, QLVB, QLVB_SECRET, naming=client_naming) as qlvb,
            _client(gateway, HUB, HUB_SECRET, naming=client_naming) as hub,
        ):
            remote_id = qlvb.send(data, from_code=G22, to_codes=[H41], kind=MessageKind.EDOC)
            assert [s.status for s in qlvb.delivery_states(remote_id)] == ["processing"]

            (item,) = hub.pending(MessageKind.EDOC)
            assert (item.remote_id, item.kind, item.from_code) == (remote_id, "edoc", G22)
            assert item.listed_at is not None
            assert item.listed_at.tzinfo is not None
            assert hub.fetch(item) == data
            hub.acknowledge(item, accepted=True)

            assert gateway.state(remote_id, H41) == "done"
            assert hub.pending(MessageKind.EDOC) == []
            (state,) = qlvb.delivery_states(remote_id)
            assert (state.remote_id, state.recipient_code, state.status) == (
                remote_id,
                H41,
                "done",
            )


def test_a_refused_package_is_acknowledged_fail_with_the_reason(
    gateway: LgspGateway, hub: LgspClient, qlvb: LgspClient
) -> None:
    remote_id = qlvb.send(b"<edXML>broken", from_code=G22, to_codes=[H41], kind=MessageKind.EDOC)
    (item,) = hub.pending(MessageKind.EDOC)
    hub.acknowledge(item, accepted=False, reason="Gói tin edXML không hợp lệ")
    assert gateway.state(remote_id, H41) == "fail"
    (state,) = qlvb.delivery_states(remote_id)
    assert (state.status, state.description) == ("fail", "Gói tin edXML không hợp lệ")
    assert hub.pending(MessageKind.EDOC) == []


def test_status_messages_are_listed_apart_from_documents(
    gateway: LgspGateway, hub: LgspClient, qlvb: LgspClient
) -> None:
    status = make_status(sender=G22, response_to=H41)
    qlvb.send(status, from_code=G22, to_codes=[H41], kind=MessageKind.STATUS)
    assert hub.pending(MessageKind.EDOC) == []
    (item,) = hub.pending(MessageKind.STATUS)
    assert item.kind is MessageKind.STATUS
    assert hub.fetch(item) == status


def test_a_business_status_is_tracked_as_processing_with_its_word(
    gateway: LgspGateway, hub: LgspClient, qlvb: LgspClient
) -> None:
    remote_id = qlvb.send(make_edoc(), from_code=G22, to_codes=[H41], kind=MessageKind.EDOC)
    hub.update_status(remote_id, "03", "Đã phân công xử lý")
    (state,) = qlvb.delivery_states(remote_id)
    assert (state.status, state.description) == ("processing", "03: Đã phân công xử lý")


def test_the_gateway_refusing_a_send_is_a_peer_error_with_its_message(
    hub: LgspClient,
) -> None:
    with pytest.raises(PeerError) as caught:  # H41's client may not send from G22
        hub.send(make_edoc(), from_code=G22, to_codes=[H41], kind=MessageKind.EDOC)
    assert not isinstance(caught.value, PeerUnavailable)
    assert caught.value.code == "lgsp.refused"
    assert caught.value.details["http_status"] == 403
    assert "không thuộc ứng dụng này" in caught.value.message_en


def test_fetching_an_unknown_document_is_a_peer_error(hub: LgspClient) -> None:
    with pytest.raises(PeerError) as caught:
        hub.fetch(RemoteItem("no-such-doc", MessageKind.EDOC))
    assert caught.value.code == "lgsp.refused"
    assert caught.value.details["http_status"] == 404


# --- agencies -------------------------------------------------------------------------------


def test_agencies_register_update_list_and_withdraw(gateway: LgspGateway) -> None:
    peer: Peer = build(_settings(gateway))
    try:
        assert peer.directory is not None
        peer.directory.register(AgencyRow(code=H41, name="UBND Tỉnh Nghệ An", level=1))
        peer.directory.register(
            AgencyRow(code="000.01.41.H41", name="Sở Nội vụ", parent_code=H41, email="snv@x.vn")
        )
        # registering again updates (the gateway answers 409 to a second POST)
        peer.directory.register(AgencyRow(code=H41, name="Ủy ban nhân dân tỉnh Nghệ An", level=1))
        rows = {row.code: row for row in peer.directory.agencies()}
        assert rows[H41].name == "Ủy ban nhân dân tỉnh Nghệ An"
        assert (rows[H41].level, rows[H41].source, rows[H41].deleted) == (
            1,
            "peer:lgsp-nghean",
            False,
        )
        assert (rows["000.01.41.H41"].parent_code, rows["000.01.41.H41"].email) == (H41, "snv@x.vn")

        peer.directory.delete("000.01.41.H41")
        peer.directory.delete("000.99.41.H41")  # never registered: nothing to withdraw
        rows = {row.code: row for row in peer.directory.agencies()}
        assert rows["000.01.41.H41"].deleted
        assert not rows[H41].deleted
    finally:
        peer.close()


# --- the gateway down or answering nonsense -------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (503, b'{"message": "Service Unavailable"}', "application/json"),
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
        (429, b'{"message": "Message throttled out"}', "application/json"),
        (200, "<html><body>Trang bảo trì</body></html>".encode(), "text/html"),
        (200, b"\x00\xff garbage", "application/octet-stream"),
    ],
)
def test_server_errors_and_non_json_answers_are_unavailable(
    gateway: LgspGateway, hub: LgspClient, status: int, body: bytes, content_type: str
) -> None:
    hub.agencies()  # a token is cached; the fault hits the API call itself
    gateway.fail_next(VANBANS, status, body, content_type=content_type)
    with pytest.raises(PeerUnavailable) as caught:
        hub.pending(MessageKind.EDOC)
    assert caught.value.details["http_status"] == status
    assert hub.pending(MessageKind.EDOC) == []  # the next call goes through


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [(503, b"", "text/plain"), (200, b"<html>login</html>", "text/html")],
)
def test_a_token_endpoint_down_is_unavailable(
    gateway: LgspGateway, hub: LgspClient, status: int, body: bytes, content_type: str
) -> None:
    gateway.fail_next("/token", status, body, content_type=content_type)
    with pytest.raises(PeerUnavailable):
        hub.pending(MessageKind.EDOC)
    assert hub.pending(MessageKind.EDOC) == []


def test_a_slow_gateway_times_out_as_unavailable(gateway: LgspGateway) -> None:
    with _client(gateway, HUB, HUB_SECRET, timeout=httpx.Timeout(0.2)) as hub:
        hub.agencies()
        gateway.fail_next(VANBANS, 200, b"[]", delay_s=1.0)
        with pytest.raises(PeerUnavailable, match="timed out"):
            hub.pending(MessageKind.EDOC)


def test_an_unreachable_gateway_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    with (
        LgspClient("lgsp", f"http://127.0.0.1:{port}/api", HUB, HUB_SECRET) as hub,
        pytest.raises(PeerUnavailable, match="unreachable"),
    ):
        hub.pending(MessageKind.EDOC)


# --- configuration and secrets --------------------------------------------------------------


def test_build_wires_every_port_and_finds_the_token_path_at_the_origin(
    gateway: LgspGateway, qlvb: LgspClient
) -> None:
    peer = build_peer(_settings(gateway))  # the kind registry; no token_url: <origin>/token
    try:
        assert (peer.name, peer.kind) == ("lgsp-nghean", "lgsp")
        ports = (peer.link, peer.inbox, peer.tracker, peer.directory)
        assert {id(port) for port in ports} == {id(peer.link)}  # one client plays every port
        qlvb.send(make_edoc(), from_code=G22, to_codes=[H41], kind=MessageKind.EDOC)
        assert peer.inbox is not None
        assert len(peer.inbox.pending(MessageKind.EDOC)) == 1
    finally:
        peer.close()
    quiet = build(_settings(gateway, tracking="false", naming="en"))
    assert quiet.tracker is None
    quiet.close()


@pytest.mark.parametrize(
    ("options", "secret", "words"),
    [
        ({"token_uri": "x"}, HUB_SECRET, "unknown token_uri"),
        ({"naming": "fr"}, HUB_SECRET, "naming"),
        ({"tracking": "yes"}, HUB_SECRET, "tracking"),
        ({"timeout_s": "soon"}, HUB_SECRET, "timeout_s"),
        ({}, None, "needs system_id"),
    ],
)
def test_build_fails_fast_on_bad_settings(
    gateway: LgspGateway, options: dict[str, str], secret: str | None, words: str
) -> None:
    settings = _settings(gateway, **options)
    if secret is None:
        settings = PeerSettings(settings.name, settings.endpoint, settings.scope, HUB, None, "lgsp")
    with pytest.raises(SettingsError, match=words):
        build(settings)


def test_secret_and_tokens_stay_out_of_logs_reprs_and_errors(
    gateway: LgspGateway, caplog: pytest.LogCaptureFixture
) -> None:
    data = make_edoc(sender=G22, to=[H41], subject="Nội dung mật không được ghi log")
    caught: list[PeerError] = []
    with caplog.at_level(logging.DEBUG):
        peer = build(_settings(gateway))
        with _client(gateway, QLVB, QLVB_SECRET) as qlvb:
            qlvb.send(data, from_code=G22, to_codes=[H41], kind=MessageKind.EDOC)
        assert peer.inbox is not None
        (item,) = peer.inbox.pending(MessageKind.EDOC)
        gateway.revoke_tokens()
        peer.inbox.fetch(item)
        with _client(gateway, HUB, "wrong-" + HUB_SECRET) as bad:
            try:
                bad.pending(MessageKind.EDOC)
            except PeerError as exc:
                caught.append(exc)
    issued = list(gateway.tokens)
    assert issued
    assert caught
    # the client side's records: this package's adapters and the HTTP stack under them
    # (the test gateway's own server-side logging is not the hub's)
    client_side = [
        r.getMessage()
        for r in caplog.records
        if r.name.split(".")[0] in ("adapters", "hub", "httpx", "httpcore")
    ]
    assert any("lgsp-nghean" in line for line in client_side)  # the adapters did log
    text = "\n".join(client_side)
    for secret in (HUB_SECRET, QLVB_SECRET, *issued):
        assert secret not in text
        assert secret not in repr(peer)
        assert secret not in repr(peer.link)
        assert secret not in repr(getattr(peer.link, "tokens", None))
        assert all(secret not in e.message_en + e.message_vi + str(e.details) for e in caught)
    assert "Nội dung mật" not in text
    peer.close()
