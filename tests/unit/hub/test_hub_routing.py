"""Routing rules over the sample registry (Nghệ An, H41)."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.agency.registry import Agency, Registry
from hub.routing import PeerHub, Router, Scope
from hub.services.contracts import Route

DAY = dt.date(2026, 3, 2)
HOSTING = {"000.00.00.H41": "qlvb.ubnd", "000.00.02.h41": "qlvb.so", "000.00.65.H41": "qlvb.so"}


@pytest.fixture
def router(registry: Registry) -> Router:
    peers = (PeerHub("caobang", Scope.parse(["H14"])),)
    return Router(registry, HOSTING, Scope.parse(["H41", "K41"]), peers)


def test_hosted_code_is_local_case_insensitively(router: Router) -> None:
    decision = router.route("000.00.02.H41", DAY)
    assert (decision.route, decision.system_id, decision.resolved) == (Route.LOCAL, "qlvb.so", None)


def test_closed_code_goes_to_its_successor_and_says_so(router: Router) -> None:
    decision = router.route("000.00.21.H41", DAY)  # district Nghi Lộc, closed 2025-07-01
    assert decision.route is Route.LOCAL
    assert decision.resolved == "000.00.65.H41"
    assert decision.reason is not None
    assert "000.00.65.H41" in decision.reason


def test_closed_code_before_the_reform_is_still_itself(router: Router) -> None:
    decision = router.route("000.00.21.H41", dt.date(2025, 6, 30))
    assert decision.resolved is None
    assert decision.route is Route.NONE  # in scope, nobody hosts the district


def test_chain_of_successors_is_followed(router: Router) -> None:
    decision = router.route("000.02.21.H41", DAY)  # → 000.01.21.H41 (closed) → 000.00.65.H41
    assert decision.resolved == "000.00.65.H41"
    assert decision.route is Route.LOCAL


def test_unknown_code_in_scope_has_no_route(router: Router) -> None:
    decision = router.route("000.00.99.H41", DAY)
    assert decision.route is Route.NONE
    assert decision.reason


def test_out_of_scope_goes_national_or_to_the_peer_covering_it(router: Router) -> None:
    assert router.route("000.00.00.G22", DAY).route is Route.NATIONAL
    assert router.route("000.00.00.H29", DAY).route is Route.NATIONAL  # unknown to us: national
    peer = router.route("000.00.00.H14", DAY)
    assert (peer.route, peer.peer_name) == (Route.PEER, "caobang")


def test_malformed_code_has_no_route(router: Router) -> None:
    decision = router.route("vxp.saas.03", DAY)
    assert decision.route is Route.NONE
    assert "không hợp lệ" in (decision.reason or "")


def test_scope_by_subtree_root(registry: Registry) -> None:
    scope = Scope.parse(["000.00.21.H41"])
    assert scope.subtree_roots == ("000.00.21.H41",)
    assert scope.covers("000.01.21.H41", registry)
    assert not scope.covers("000.00.22.H41", registry)
    assert Scope.parse(["h41"]).level1_keys == frozenset({"H41"})


def test_successor_cycle_is_no_route_not_a_crash() -> None:
    closed = dt.date(2025, 1, 1)
    reg = Registry(
        [
            Agency("000.00.01.H99", "A", valid_to=closed, successor_code="000.00.02.H99"),
            Agency("000.00.02.H99", "B", valid_to=closed, successor_code="000.00.01.H99"),
        ]
    )
    decision = Router(reg, {}, Scope.parse(["H99"])).route("000.00.01.H99", DAY)
    assert decision.route is Route.NONE
    assert "vòng" in (decision.reason or "")
