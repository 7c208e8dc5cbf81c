"""Named console accounts (``hub.services.accounts`` over ``hub.ports.OperatorStore``) on the
in-memory fake, SQLite and PostgreSQL (migrations 0018, 0019): argon2id hashes, sessions that
expire (idle, absolute) and end everywhere on logout/disable/passwd/role, login throttling per
account and per address, a clerk's agencies checked against the registry, every change audited
with who made it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adapters.memory import ManualClock, MemoryOperatorStore
from adapters.passwords import FAST, Argon2Hasher
from adapters.store.operators import SqlOperatorStore
from hub.access import Operator, bound, may
from hub.agency.loading import load_sample_registry
from hub.errors import Conflict, InvalidRequest, NotFound
from hub.ports import OperatorStore
from hub.services.accounts import AccountPolicy, Accounts, session_key
from tests.db_fixtures import migrated_engine_on

PASSWORD = "lua-nuoc-ca-9"
Maker = Callable[[], OperatorStore]


class Ticks:
    """A monotonic clock for the session cache, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def make_store(request: pytest.FixtureRequest) -> Iterator[Maker]:
    if request.param == "memory":
        store = MemoryOperatorStore()
        yield lambda: store
        return
    with migrated_engine_on(request, request.param) as engine:
        yield lambda: SqlOperatorStore(engine)  # a new object each time: another process


class World:
    def __init__(self, make_store: Maker) -> None:
        self.make_store = make_store
        self.clock = ManualClock()
        self.ticks = Ticks()
        self.audit: list[tuple[Any, ...]] = []
        self.details: list[dict[str, Any]] = []
        self.policy = AccountPolicy(idle_s=600, absolute_s=3600, cache_s=5, touch_s=60)

    def record(self, actor: str, action: str, subject: str | None, outcome: str = "ok", **d: Any):
        self.audit.append((actor, action, subject, outcome))
        self.details.append(d)

    def accounts(self) -> Accounts:
        """One API process' service (its own cache) on the shared store."""
        return Accounts(
            self.make_store(),
            Argon2Hasher(**FAST),
            self.clock,
            self.record,
            self.policy,
            monotonic=self.ticks,
            registry=load_sample_registry,
        )


@pytest.fixture
def world(make_store: Maker) -> World:
    return World(make_store)


def test_add_stores_an_argon2id_hash_and_logs_in(world: World) -> None:
    accounts = world.accounts()
    row = accounts.add("Ana.Nguyen", "operator", PASSWORD, actor="cli")
    assert row.name == "ana.nguyen"
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    result = accounts.login("ana.nguyen", PASSWORD, address="10.0.0.7")
    assert result.session is not None
    assert len(result.session) >= 40
    assert result.operator == Operator("ana.nguyen", "operator")
    assert accounts.operator(result.session) == Operator("ana.nguyen", "operator")
    stored = world.make_store().session(session_key(result.session))
    assert stored is not None
    assert stored.address == "10.0.0.7"
    assert ("cli", "account.add", "ana.nguyen", "ok") in world.audit
    assert ("ana.nguyen", "dashboard.login", "ana.nguyen", "ok") in world.audit


def test_bad_input_is_refused_with_the_field_named(world: World) -> None:
    accounts = world.accounts()
    with pytest.raises(InvalidRequest) as bad_name:
        accounts.add("ana nguyen", "operator", PASSWORD, actor="cli")
    assert bad_name.value.details["field"] == "name"
    with pytest.raises(InvalidRequest) as bad_role:
        accounts.add("ana", "root", PASSWORD, actor="cli")
    assert bad_role.value.details["field"] == "role"
    with pytest.raises(InvalidRequest) as weak:
        accounts.add("ana", "admin", "short", actor="cli")
    assert weak.value.details["field"] == "password"
    accounts.add("ana", "admin", PASSWORD, actor="cli")
    with pytest.raises(Conflict):
        accounts.add("ANA", "auditor", PASSWORD, actor="cli")
    with pytest.raises(NotFound):
        accounts.set_disabled("nobody", True, actor="cli")


def test_wrong_password_unknown_name_and_disabled_are_refused(world: World) -> None:
    accounts = world.accounts()
    accounts.add("ana", "auditor", PASSWORD, actor="cli")
    assert accounts.login("ana", PASSWORD + "x", address="10.0.0.7").refused == "bad"
    assert accounts.login("binh", PASSWORD, address="10.0.0.7").refused == "bad"
    accounts.set_disabled("ana", True, actor="admin.hoa")
    assert accounts.login("ana", PASSWORD, address="10.0.0.7").refused == "bad"
    accounts.set_disabled("ana", False, actor="admin.hoa")
    assert accounts.login("ana", PASSWORD, address="10.0.0.8").session is not None
    failed = [a for a in world.audit if a[3] == "auth.failed"]
    assert len(failed) == 3
    assert ("admin.hoa", "account.disable", "ana", "ok") in world.audit


def test_sessions_expire_when_idle_and_after_the_absolute_limit(world: World) -> None:
    accounts = world.accounts()
    accounts.add("ana", "operator", PASSWORD, actor="cli")
    value = accounts.login("ana", PASSWORD, address=None).session
    assert value is not None
    for _ in range(5):  # used every 9 minutes: alive past the idle limit's 10 minutes
        world.clock.advance(9 * 60)
        world.ticks.now += 9 * 60
        assert accounts.operator(value) is not None
    world.clock.advance(11 * 60)  # idle past 10 minutes
    world.ticks.now += 11 * 60
    assert accounts.operator(value) is None

    again = accounts.login("ana", PASSWORD, address=None).session
    assert again is not None
    for _ in range(6):
        world.clock.advance(9 * 60)
        world.ticks.now += 9 * 60
        accounts.operator(again)
    world.clock.advance(9 * 60)  # 63 minutes after the login, though never idle
    world.ticks.now += 9 * 60
    assert accounts.operator(again) is None


@pytest.mark.parametrize("change", ["logout", "disable", "passwd", "role"])
def test_a_change_ends_the_session_in_every_process_within_the_cache_delay(
    world: World, change: str
) -> None:
    one, two = world.accounts(), world.accounts()  # two API processes
    one.add("ana", "operator", PASSWORD, actor="cli")
    value = one.login("ana", PASSWORD, address=None).session
    assert value is not None
    assert two.operator(value) == Operator("ana", "operator")
    if change == "logout":
        assert one.logout(value) == "ana"
    elif change == "disable":
        one.set_disabled("ana", True, actor="cli")
    elif change == "passwd":
        one.set_password("ana", PASSWORD + "-new", actor="cli")
    else:
        one.set_role("ana", "auditor", actor="cli")
    assert one.operator(value) is None  # at once where it happened
    world.ticks.now += world.policy.cache_s + 0.1
    assert two.operator(value) is None  # and in the other process after the cache delay


def test_throttling_locks_an_account_then_grows_and_ends(world: World) -> None:
    accounts = world.accounts()
    accounts.add("ana", "operator", PASSWORD, actor="cli")
    for i in range(5):
        assert accounts.login("ana", "wrong-password", address=f"10.0.0.{i}").refused == "bad"
    locked = accounts.login("ana", PASSWORD, address="10.0.0.99")  # right password, locked
    assert (locked.refused, locked.retry_after_s) == ("throttled", 60)
    world.clock.advance(61)
    assert accounts.login("ana", "wrong-again-1", address="10.0.0.50").refused == "bad"
    second = accounts.login("ana", PASSWORD, address="10.0.0.99")
    assert (second.refused, second.retry_after_s) == ("throttled", 120)  # doubled
    world.clock.advance(121)
    assert accounts.login("ana", PASSWORD, address="10.0.0.99").session is not None
    # A success clears the account's count.
    assert accounts.login("ana", "wrong-password", address="10.0.0.98").refused == "bad"
    assert accounts.login("ana", PASSWORD, address="10.0.0.98").session is not None
    assert any(a[3] == "auth.throttled" for a in world.audit)


def test_throttling_per_address_stops_a_spray_over_many_names(world: World) -> None:
    accounts = world.accounts()
    accounts.add("ana", "operator", PASSWORD, actor="cli")
    for name in ("binh", "chau", "dung", "giang", "hoa"):
        accounts.login(name, PASSWORD, address="203.0.113.9")
    spray = accounts.login("ana", PASSWORD, address="203.0.113.9")
    assert spray.refused == "throttled"
    assert accounts.login("ana", PASSWORD, address="10.0.0.7").session is not None


def test_login_refusals_are_security_events_without_the_password(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    accounts = world.accounts()
    accounts.add("ana", "operator", PASSWORD, actor="cli")
    with caplog.at_level(logging.INFO, logger="lienthong.security"):
        for _ in range(6):
            accounts.login("ana", "guess-" + PASSWORD, address="198.51.100.4")
    events = [json.loads(r.getMessage()) for r in caplog.records]
    assert [e["event"] for e in events] == ["login_failed"] * 5 + ["login_throttled"]
    assert events[0]["category"] == "auth_failed"
    assert events[0]["remote"] == "198.51.100.4"
    assert events[0]["actor"] == "ana"
    assert events[-1]["retry_after_s"] == 60
    assert PASSWORD not in caplog.text


def test_roles_may_exactly_their_actions() -> None:
    operator, auditor, admin = (Operator("x", r) for r in ("operator", "auditor", "admin"))
    clerk = Operator("x", "clerk")
    assert [a for a in ("watch", "seal", "accounts", "download", "audit") if may(clerk, a)] == [
        "seal"
    ]
    assert bound(clerk)
    assert not any(bound(o) for o in (operator, auditor, admin, None))
    assert [a for a in ("watch", "redrive", "discard") if may(operator, a)] == [
        "watch",
        "redrive",
        "discard",
    ]
    assert not any(may(operator, a) for a in ("audit", "accounts", "download", "evidence"))
    assert not any(may(auditor, a) for a in ("redrive", "discard", "accounts", "systems"))
    assert all(may(auditor, a) for a in ("watch", "audit", "evidence", "download"))
    assert all(may(admin, a) for a in ("accounts", "seal", "settings", "agencies", "redrive"))
    assert not may(None, "watch")
    assert not may(Operator("x", "root"), "watch")
    assert not may(admin, "no-such-action")


def test_the_last_active_admin_stays_an_active_admin(world: World) -> None:
    accounts = world.accounts()
    accounts.add("an", "admin", PASSWORD, actor="cli")
    accounts.add("oanh", "operator", PASSWORD, actor="cli")
    for change in (
        lambda: accounts.set_disabled("an", True, actor="an"),
        lambda: accounts.set_role("an", "auditor", actor="an"),
    ):
        with pytest.raises(Conflict) as refused:
            change()
        assert refused.value.code == "accounts.last_admin"
    accounts.set_role("oanh", "admin", actor="an")
    accounts.set_disabled("an", True, actor="oanh")  # another admin exists now
    assert [(r.name, r.role, r.disabled) for r in accounts.list()] == [
        ("an", "admin", True),
        ("oanh", "admin", False),
    ]
    accounts.set_password("oanh", PASSWORD + "-2", actor="oanh")  # not a demotion


def test_a_clerk_has_the_agencies_given_checked_against_the_registry(world: World) -> None:
    accounts = world.accounts()
    # The QĐ 20 form names the same agency: stored in its canonical (QCVN 102) form.
    accounts.add("van.thu", "clerk", PASSWORD, actor="cli", agencies=["H41.02", "000.00.03.H41"])
    assert accounts.agencies_of("van.thu") == ("000.00.02.H41", "000.00.03.H41")
    assert world.details[-1]["agencies"] == ["000.00.02.H41", "000.00.03.H41"]
    other = world.accounts()  # another process sees the list at once (never cached)
    assert other.agencies_of("van.thu") == ("000.00.02.H41", "000.00.03.H41")

    assert accounts.set_agencies(
        "van.thu", add=["000.00.04.H41"], remove=["000.00.02.h41"], actor="an"
    ) == ("000.00.03.H41", "000.00.04.H41")
    assert world.audit[-1] == ("an", "account.agencies", "van.thu", "ok")
    assert world.details[-1]["added"] == ["000.00.04.H41"]
    assert world.details[-1]["removed"] == ["000.00.02.H41"]
    assert accounts.set_agencies("van.thu", ["000.00.04.H41"], actor="an") == ("000.00.04.H41",)
    accounts.add("thu.ky", "clerk", PASSWORD, actor="cli")
    assert accounts.agencies_of("thu.ky") == ()
    assert accounts.all_agencies() == {"van.thu": ("000.00.04.H41",)}
    assert other.set_agencies("van.thu", [], actor="an") == ()
    assert accounts.all_agencies() == {}


def test_unknown_agency_codes_are_refused_by_name_and_nothing_is_written(world: World) -> None:
    accounts = world.accounts()
    with pytest.raises(InvalidRequest) as unknown:
        accounts.add("van.thu", "clerk", PASSWORD, actor="cli", agencies=["000.00.99.H41"])
    assert unknown.value.code == "accounts.unknown_agency"
    assert unknown.value.details["agency"] == "000.00.99.H41"
    assert "000.00.99.H41" in unknown.value.message("en")
    assert "000.00.99.H41" in unknown.value.message("vi")
    assert accounts.list() == []  # checked before the account was written
    accounts.add("van.thu", "clerk", PASSWORD, actor="cli", agencies=["000.00.02.H41"])
    with pytest.raises(InvalidRequest) as again:
        accounts.set_agencies("van.thu", add=["H99"], actor="an")
    assert again.value.details["agency"] == "H99"
    assert accounts.agencies_of("van.thu") == ("000.00.02.H41",)
    with pytest.raises(NotFound):
        accounts.set_agencies("nobody", ["000.00.02.H41"], actor="an")


def test_only_clerks_carry_agencies_and_a_role_change_clears_them(world: World) -> None:
    accounts = world.accounts()
    with pytest.raises(InvalidRequest) as role:
        accounts.add("oanh", "operator", PASSWORD, actor="cli", agencies=["000.00.02.H41"])
    assert role.value.code == "accounts.agencies_role"
    accounts.add("oanh", "operator", PASSWORD, actor="cli")
    with pytest.raises(InvalidRequest):
        accounts.set_agencies("oanh", ["000.00.02.H41"], actor="an")
    accounts.add("van.thu", "clerk", PASSWORD, actor="cli", agencies=["000.00.02.H41"])
    accounts.set_role("van.thu", "operator", actor="an")
    assert accounts.agencies_of("van.thu") == ()
    assert world.audit[-1] == ("an", "account.agencies", "van.thu", "ok")
    assert world.details[-1]["removed"] == ["000.00.02.H41"]


def test_a_listed_code_the_registry_dropped_can_still_be_removed(make_store: Maker) -> None:
    world = World(make_store)
    accounts = world.accounts()
    accounts.add("van.thu", "clerk", PASSWORD, actor="cli", agencies=["000.00.02.H41"])
    world.make_store().set_agencies("van.thu", ["000.00.02.H41", "000.00.31.H99"])
    kept = accounts.set_agencies("van.thu", add=["000.00.03.H41"], actor="an")
    assert kept == ("000.00.02.H41", "000.00.03.H41", "000.00.31.H99")
    assert accounts.set_agencies("van.thu", remove=["000.00.31.H99"], actor="an") == (
        "000.00.02.H41",
        "000.00.03.H41",
    )


def test_a_person_changes_their_own_password_proving_the_current_one(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    accounts = world.accounts()
    accounts.add("ana", "operator", PASSWORD, actor="cli")
    here = accounts.login("ana", PASSWORD, address="10.0.0.7").session
    elsewhere = accounts.login("ana", PASSWORD, address="10.0.0.8").session
    assert here is not None
    assert elsewhere is not None
    with (
        caplog.at_level(logging.INFO, logger="lienthong.security"),
        pytest.raises(InvalidRequest) as wrong,
    ):
        accounts.change_own_password("ana", "not-" + PASSWORD, "moi-mat-khau-77", address="a")
    assert wrong.value.code == "accounts.wrong_password"
    assert wrong.value.details["field"] == "current"
    assert ("ana@a", "account.passwd", "ana", "auth.failed") in world.audit
    assert "auth_failed" in caplog.text
    assert PASSWORD not in caplog.text
    with pytest.raises(InvalidRequest) as weak:
        accounts.change_own_password("ana", PASSWORD, "short", address="a")
    assert weak.value.code == "accounts.weak_password"

    fresh = accounts.change_own_password("ana", PASSWORD, "moi-mat-khau-77", address="10.0.0.7")
    world.ticks.now += world.policy.cache_s + 1  # past the session cache
    assert accounts.operator(here) is None  # every earlier session ended …
    assert accounts.operator(elsewhere) is None
    assert accounts.operator(fresh) == Operator("ana", "operator")  # … this browser goes on
    assert ("ana", "account.passwd", "ana", "ok") in world.audit
    assert accounts.login("ana", PASSWORD, address="10.0.0.7").refused == "bad"
    assert accounts.login("ana", "moi-mat-khau-77", address="10.0.0.7").session is not None


def test_guessing_the_current_password_is_throttled_like_a_login(world: World) -> None:
    accounts = world.accounts()
    accounts.add("ana", "operator", PASSWORD, actor="cli")
    for i in range(5):
        with pytest.raises(InvalidRequest):
            accounts.change_own_password("ana", f"guess-{i}-xx", "moi-mat-khau-77", address="b")
    with pytest.raises(InvalidRequest) as locked:  # even the right one, while locked
        accounts.change_own_password("ana", PASSWORD, "moi-mat-khau-77", address="b")
    assert locked.value.code == "accounts.throttled"
    assert locked.value.details["retry_after_s"] == 60
    assert accounts.login("ana", PASSWORD, address="c").refused == "throttled"  # one count
    world.clock.advance(61)
    accounts.change_own_password("ana", PASSWORD, "moi-mat-khau-77", address="b")
    assert accounts.login("ana", "moi-mat-khau-77", address="c").session is not None
