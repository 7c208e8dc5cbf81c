"""The national role and the inbound settings: ``hub.role`` / ``LIENTHONG_ROLE`` / ``--role``,
``national.poll``, ``inbound.poll_s``, the peers built from them, and routing in a hub that
serves every agency."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hub.agency.loading import load_sample_registry
from hub.entrypoints.cli import build_parser
from hub.entrypoints.peering import build_peers, links_of, national_peer_settings
from hub.ports import NATIONAL_LINK
from hub.routing import Router, Scope
from hub.services.contracts import Route
from hub.settings import SettingsError, load_settings

DAY = dt.date(2026, 3, 2)
AXIS = {
    "LIENTHONG_NATIONAL_ENDPOINT": "http://127.0.0.1:9/",
    "LIENTHONG_NATIONAL_SYSTEM_ID": "hub.h41",
    "LIENTHONG_NATIONAL_SECRET": "child-secret",
}


def test_the_national_role_serves_every_agency(tmp_path: Path) -> None:
    s = load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path), "LIENTHONG_ROLE": "national"})
    assert s.role == "national"
    assert s.scope.everything
    assert Scope.parse(["*"]) == Scope(everything=True)
    provincial = load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path)})
    assert provincial.role == "provincial"
    assert not provincial.scope.everything


def test_an_unknown_role_or_a_bad_interval_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"hub\.role"):
        load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path), "LIENTHONG_ROLE": "regional"})
    with pytest.raises(SettingsError, match=r"inbound\.poll_s"):
        load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path), "LIENTHONG_INBOUND_POLL_S": "0"})


def test_routing_in_the_national_role() -> None:
    registry = load_sample_registry()
    router = Router(registry, {"000.00.00.H41": "hub.h41", "000.00.65.H41": "hub.h41"},
                    Scope(everything=True))  # fmt: skip
    assert router.route("000.00.65.H41", DAY).route is Route.LOCAL  # the child's system inbox
    assert router.route("000.00.00.H41", DAY).system_id == "hub.h41"
    # Hosted by nobody: nobody else will take it either (there is no axis above the axis).
    assert router.route("000.00.00.G09", DAY).route is Route.NONE
    assert router.route("000.00.00.H14", DAY).route is Route.NONE


def test_the_national_settings_become_the_national_peer(tmp_path: Path) -> None:
    env = {"LIENTHONG_DATA_DIR": str(tmp_path), "LIENTHONG_INBOUND_POLL_S": "0.5", **AXIS}
    s = load_settings(env=env)
    assert s.inbound_poll_s == 0.5
    assert s.inbound_track_s == 60.0
    assert load_settings(env={**env, "LIENTHONG_INBOUND_TRACK_S": "5"}).inbound_track_s == 5.0
    peers = build_peers(s)
    try:
        assert list(peers) == [NATIONAL_LINK]
        nat = peers[NATIONAL_LINK]
        assert nat.kind == "vxp"
        assert nat.inbox is not None
        assert links_of(peers) == {NATIONAL_LINK: nat.link}
    finally:
        for p in peers.values():
            p.close()
    quiet = load_settings(env={**env, "LIENTHONG_NATIONAL_POLL": "0"})
    ps = national_peer_settings(quiet)
    assert ps is not None
    assert not ps.poll
    assert national_peer_settings(load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path)})) is None


def test_the_role_option_of_the_server_commands() -> None:
    parser = build_parser()
    assert parser.parse_args(["run", "--role", "national"]).role == "national"
    assert parser.parse_args(["worker", "--role", "national"]).role == "national"
    assert parser.parse_args(["serve"]).role is None
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--role", "regional"])
