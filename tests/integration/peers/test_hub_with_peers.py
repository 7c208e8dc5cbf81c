"""A whole hub (``build_hub``, on SQLite and on PostgreSQL) with a legacy SOAP hub and an LGSP
gateway as its peers — real servers on loopback (spyne; oauthlib behind Starlette): a package
waiting at the peer for an agency served here is taken by the inbound round, put through the
intake and lands in the local system's inbox, the peer told only afterwards; a package a local
system sends to the peer's province is forwarded through the peer's own protocol and waits
there for the far side. The same two ports, whatever the kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from soap_service import SoapHubServer
from soap_world import H14_SO, HUB_SECRET, HUB_SYSTEM, REMOTE_SECRET, REMOTE_SYSTEM, seed
from soap_world import peer_settings as soap_settings

from adapters.peers.lgsp import LgspClient
from adapters.peers.soap import SoapHubClient
from hub.delivery import State
from hub.edxml.model import MessageKind
from hub.entrypoints.bootstrap import Hub, build_hub
from hub.ports import NullVerifier
from hub.routing import Scope
from hub.settings import PeerSettings, Secret, load_settings
from tests.factories import make_edoc
from tests.integration.peers.lgsp_server import LgspGateway

LOCAL_SYSTEM, LOCAL_SECRET = "qlvb.ubnd", "local-secret-0c7d21"
LOCAL = "000.00.00.H41"  # UBND tỉnh Nghệ An, hosted by the local system
G22 = "000.00.00.G22"  # a ministry behind the LGSP
LGSP_HUB, LGSP_HUB_SECRET = "hub-nghean", "hub-secret-7f3a9c"
QLVB, QLVB_SECRET = "qlvb-vpcp", "qlvb-secret-d41e07"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def settings_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = {"LIENTHONG_DATA_DIR": str(tmp_path / "hub")}
    if request.param == "postgresql":
        env["LIENTHONG_DATABASE_URL"] = request.getfixturevalue("postgres_server").create()
    return env


def _hub(env: dict[str, str], peer: PeerSettings, tmp_path: Path) -> Iterator[Hub]:
    """A hub whose settings file names ``peer`` under ``peers:``, as an operator writes it: the
    composition root builds it through the kind registry, and routing knows its scope."""
    scope = ", ".join(sorted(peer.scope.level1_keys))
    options = ", ".join(f"{k}: {v!r}" for k, v in peer.options.items())
    assert peer.secret is not None
    config = tmp_path / "settings.yaml"
    config.write_text(
        'hub:\n  organ_id: "000.00.00.H41"\n  scope: ["H41"]\n'
        "peers:\n"
        f"  {peer.name}:\n"
        f"    kind: {peer.kind}\n"
        f"    endpoint: {peer.endpoint!r}\n"
        f"    scope: [{scope}]\n"
        f"    system_id: {peer.system_id}\n"
        f"    secret: {peer.secret.reveal()!r}\n"
        f"    options: {{{options}}}\n",
        encoding="utf-8",
    )
    hub = build_hub(load_settings(config, env=env), verifier=NullVerifier())
    hub.services.systems.add(LOCAL_SYSTEM, [LOCAL], secret=LOCAL_SECRET)
    try:
        yield hub
    finally:
        hub.close()


def _dispatch(hub: Hub) -> list[str]:
    """What the dispatch worker does: queued → available (local) or forwarding (+ forward)."""
    with hub.uow() as uow:
        ids = [d.id for d in uow.deliveries.in_state(State.QUEUED.value, limit=100)]
    hub.dispatch.dispatch(ids)
    return ids


def _forward_all(hub: Hub) -> None:
    with hub.uow() as uow:
        ids = [d.id for d in uow.deliveries.in_state(State.FORWARDING.value, limit=100)]
    for delivery_id in ids:
        hub.forward.forward(delivery_id)


def _local_inbox(hub: Hub) -> list[str]:
    return [i.delivery_id for i in hub.services.list_received(LOCAL_SYSTEM, MessageKind.EDOC)]


# --- SOAP ---------------------------------------------------------------------------------


@pytest.fixture
def soap_hub(settings_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[Hub, SoapHubServer]]:
    server = SoapHubServer()
    seed(server.store)
    server.store.add_account(HUB_SYSTEM, HUB_SECRET, [LOCAL])  # this hub hosts LOCAL there
    try:
        yield from ((h, server) for h in _hub(settings_env, soap_settings(server), tmp_path))
    finally:
        server.stop()


def test_a_soap_hub_both_ways(soap_hub: tuple[Hub, SoapHubServer]) -> None:
    hub, server = soap_hub
    remote = SoapHubClient(
        server.endpoint, name="h14", username=REMOTE_SYSTEM, secret=REMOTE_SECRET
    )
    try:
        # In: Cao Bằng's department sends to UBND Nghệ An through its SOAP hub.
        incoming = make_edoc(sender=H14_SO, to=[LOCAL], document_id="H14-SOAP-1")
        remote.send(incoming, from_code=H14_SO, to_codes=[LOCAL], kind=MessageKind.EDOC)
        report = hub.inbound.round() if hub.inbound is not None else None
        assert report is not None
        assert len(report.accepted) == 1
        _dispatch(hub)
        [delivery_id] = _local_inbox(hub)
        fetched = hub.services.fetch(LOCAL_SYSTEM, delivery_id)
        assert b"H14-SOAP-1" in fetched.data
        # Told only after the commit, and never listed again.
        assert remote_pending(hub, server) == []

        # Out: UBND Nghệ An answers a department of Cao Bằng: forwarded over SOAP.
        outgoing = make_edoc(sender=LOCAL, to=[H14_SO], document_id="H41-SOAP-2")
        hub.services.push(LOCAL_SYSTEM, outgoing)
        _dispatch(hub)
        _forward_all(hub)
        [item] = remote.pending(MessageKind.EDOC)
        assert b"H41-SOAP-2" in remote.fetch(item)
    finally:
        remote.close()


def remote_pending(hub: Hub, server: SoapHubServer) -> list[object]:
    peer = next(iter(hub.peers.values()))
    assert peer.inbox is not None
    return list(peer.inbox.pending(MessageKind.EDOC))


# --- LGSP ---------------------------------------------------------------------------------


@pytest.fixture
def lgsp_hub(
    settings_env: dict[str, str], lgsp_gateway: LgspGateway, tmp_path: Path
) -> Iterator[tuple[Hub, LgspGateway]]:
    lgsp_gateway.add_client(LGSP_HUB, LGSP_HUB_SECRET, agencies=[LOCAL])
    lgsp_gateway.add_client(QLVB, QLVB_SECRET, agencies=[G22])
    settings = PeerSettings(
        name="lgsp-nghean",
        endpoint=lgsp_gateway.api_url,
        scope=Scope.parse(["G22"]),  # the ministries reached through the gateway
        system_id=LGSP_HUB,
        secret=Secret(LGSP_HUB_SECRET),
        kind="lgsp",
        options={"token_url": lgsp_gateway.token_url},
    )
    yield from ((h, lgsp_gateway) for h in _hub(settings_env, settings, tmp_path))


def test_an_lgsp_gateway_both_ways(lgsp_hub: tuple[Hub, LgspGateway]) -> None:
    hub, gateway = lgsp_hub
    ministry = LgspClient("vpcp", gateway.api_url, QLVB, QLVB_SECRET, token_url=gateway.token_url)
    try:
        incoming = make_edoc(sender=G22, to=[LOCAL], document_id="G22-LGSP-1")
        ministry.send(incoming, from_code=G22, to_codes=[LOCAL], kind=MessageKind.EDOC)
        assert hub.inbound is not None
        report = hub.inbound.round()
        assert len(report.accepted) == 1
        _dispatch(hub)
        [delivery_id] = _local_inbox(hub)
        assert b"G22-LGSP-1" in hub.services.fetch(LOCAL_SYSTEM, delivery_id).data
        assert not hub.inbound.round().accepted  # acknowledged: never taken twice

        outgoing = make_edoc(sender=LOCAL, to=[G22], document_id="H41-LGSP-2")
        hub.services.push(LOCAL_SYSTEM, outgoing)
        _dispatch(hub)
        _forward_all(hub)
        [item] = ministry.pending(MessageKind.EDOC)
        assert b"H41-LGSP-2" in ministry.fetch(item)
        assert gateway.token_requests[LGSP_HUB] >= 1  # real tokens, issued by the gateway
    finally:
        ministry.close()
