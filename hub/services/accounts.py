"""The console's named accounts: passwords, sessions and login throttling.

Theory of operation:

* **Accounts** (:class:`hub.ports.OperatorRow`) have a name, a role (:data:`hub.access.ROLES`),
  a slow salted password hash (:class:`hub.ports.PasswordHasher`, argon2id) and a disabled flag.
  Every change is audited with who made it (``cli`` or the console account). The last active
  admin cannot be disabled or given another role (nobody could manage accounts any more).
* **Agencies**: an account of a bound role (:data:`hub.access.BOUND_ROLES`, the clerk) acts
  only for the agency codes listed on it. A new code must be in the agency registry (stored in
  its canonical form, so a former or QĐ 20 code names the same agency); codes already listed
  stay even if the registry has since dropped them, so they can still be removed. Only bound
  roles carry agencies: a role change away from one clears them. The list is read at each use
  (not cached with the session): a removed agency stops working at once.
* **Sessions** are random 256-bit values handed to the browser; the store keeps only their
  SHA-256, the account and two times. A session ends after ``idle_s`` without a request, after
  ``absolute_s`` whatever happens, at logout, and when its account is disabled, changes its
  password or its role. Each API process checks a session in the database at most every
  ``cache_s`` seconds: an ended session stops working everywhere within that delay.
* **Throttling**: failed logins are counted per account and per client address over
  ``window_s``. From ``max_failures`` on, that key is locked for ``lock_s`` doubled for each
  further failure (capped at ``lock_max_s``); a locked login is refused without checking the
  password (so guessing on gets nothing), audited and reported as a security event. A success
  clears the account's count (not the address's: one good password must not reset a spray).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hub.access import BOUND_ROLES, ROLES, Operator
from hub.agency.registry import Registry
from hub.errors import Conflict, InvalidRequest, NotFound
from hub.ports import Clock, OperatorRow, OperatorStore, PasswordHasher, SessionRow
from hub.security import emit

#: ``record(actor, action, subject, outcome, **details)`` — :meth:`Monitor.record`'s shape.
Recorder = Callable[..., None]

MIN_PASSWORD = 10
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    """Session lifetimes and login throttling (``admin.*`` settings)."""

    idle_s: float = 30 * 60
    """A session unused this long ends."""
    absolute_s: float = 8 * 3600
    """A session ends this long after its login, used or not (a working day)."""
    cache_s: float = 5.0
    """How long a process trusts its last database check of a session."""
    touch_s: float = 60.0
    """A session's last-seen time is written at most this often."""
    max_failures: int = 5
    """Failed logins (per account, per address) within ``window_s`` before a lock."""
    window_s: float = 15 * 60
    """How far back failed logins count."""
    lock_s: float = 60.0
    """The first lock's length; each further failure doubles it."""
    lock_max_s: float = 15 * 60
    """The longest lock."""


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A login's outcome: a session value, or why not (``bad`` or ``throttled``)."""

    session: str | None
    operator: Operator | None
    refused: str | None = None
    retry_after_s: int = 0


def check_name(name: str) -> str:
    """A normalised account name, or :class:`InvalidRequest` naming the problem."""
    clean = unicodedata.normalize("NFC", name.strip()).lower()
    if not 1 <= len(clean) <= 64 or not set(clean) <= _NAME_CHARS:
        raise InvalidRequest(
            f"account name {name!r}: 1-64 characters from a-z, 0-9, '.', '_' and '-'",
            message_vi=f"tên tài khoản {name!r}: 1-64 ký tự a-z, 0-9, '.', '_', '-'",
            code="accounts.bad_name",
            details={"field": "name"},
        )
    return clean


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidRequest(
            f"role {role!r}: expected one of {', '.join(ROLES)}",
            message_vi=f"vai trò {role!r}: phải là một trong {', '.join(ROLES)}",
            code="accounts.bad_role",
            details={"field": "role"},
        )
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidRequest(
            f"password: at least {MIN_PASSWORD} characters",
            message_vi=f"mật khẩu: tối thiểu {MIN_PASSWORD} ký tự",
            code="accounts.weak_password",
            details={"field": "password"},
        )
    return password


def session_key(value: str) -> str:
    """The stored form of a session value (its SHA-256)."""
    return hashlib.sha256(value.encode()).hexdigest()


class Accounts:
    """Accounts, logins and sessions over an :class:`~hub.ports.OperatorStore` (see above)."""

    def __init__(
        self,
        store: OperatorStore,
        hasher: PasswordHasher,
        clock: Clock,
        record: Recorder,
        policy: AccountPolicy | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        registry: Callable[[], Registry] | None = None,
    ) -> None:
        """``registry`` checks the agency codes given to clerks; without it no code is known
        (so no clerk can be given an agency)."""
        self._store = store
        self._registry = registry
        self._hasher = hasher
        self._clock = clock
        self._record = record
        self.policy = policy or AccountPolicy()
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, Operator]] = {}
        self._lock = threading.Lock()
        self._decoy: str | None = None

    # ------------------------------------------------------------------------ accounts

    def add(
        self, name: str, role: str, password: str, *, actor: str, agencies: Sequence[str] = ()
    ) -> OperatorRow:
        """A new account; ``agencies`` (a clerk's) are checked before anything is written."""
        name, role = check_name(name), check_role(role)
        codes = self._checked(role, (), agencies)
        now = self._clock.now()
        row = OperatorRow(name, role, self._hasher.hash(check_password(password)), False, now, now)
        self._store.add(row)
        if codes:
            self._store.set_agencies(name, codes)
        self._record(actor, "account.add", name, role=role, agencies=list(codes))
        return row

    def list(self) -> Sequence[OperatorRow]:
        return self._store.all()

    def get(self, name: str) -> OperatorRow:
        row = self._store.get(check_name(name))
        if row is None:
            raise NotFound(
                f"no account {name!r}",
                message_vi=f"không có tài khoản {name!r}",
                code="accounts.not_found",
                details={"field": "name"},
            )
        return row

    def set_disabled(self, name: str, disabled: bool, *, actor: str) -> None:
        row = self.get(name)
        self._change(replace(row, disabled=disabled), actor, "disable" if disabled else "enable")

    def set_password(self, name: str, password: str, *, actor: str) -> None:
        row = self.get(name)
        hashed = self._hasher.hash(check_password(password))
        self._change(replace(row, password_hash=hashed), actor, "passwd")

    def set_role(self, name: str, role: str, *, actor: str) -> None:
        row = self.get(name)
        cleared = self._store.agencies(row.name) if role not in BOUND_ROLES else ()
        self._change(replace(row, role=check_role(role)), actor, "role", role=role)
        if cleared:  # only bound roles carry agencies
            self._store.set_agencies(row.name, ())
            self._record(actor, "account.agencies", row.name, agencies=[], removed=list(cleared))

    def agencies_of(self, name: str) -> tuple[str, ...]:
        """The agency codes account ``name`` acts for (read now, never cached)."""
        return self._store.agencies(name)

    def all_agencies(self) -> dict[str, tuple[str, ...]]:
        """Every account with agencies → its codes (for listings)."""
        return dict(self._store.all_agencies())

    def set_agencies(
        self,
        name: str,
        codes: Sequence[str] | None = None,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        actor: str,
    ) -> tuple[str, ...]:
        """Replace the account's agencies with ``codes`` (``None``: keep the current ones),
        then add ``add`` and drop ``remove``; the list stored, audited with what changed.

        :class:`InvalidRequest` naming the first unknown code (``details["agency"]``), or when
        agencies would be given to a role that is not bound (``accounts.agencies_role``)."""
        row = self.get(name)
        current = self._store.agencies(row.name)
        gone = {c.strip().casefold() for c in remove}
        wanted = [c for c in (current if codes is None else codes) if c.strip()] + list(add)
        kept = [c for c in wanted if c.strip().casefold() not in gone]
        new = self._checked(row.role, current, kept)
        self._store.set_agencies(row.name, new)
        self._record(
            actor,
            "account.agencies",
            row.name,
            agencies=list(new),
            added=sorted(set(new) - set(current)),
            removed=sorted(set(current) - set(new)),
        )
        return new

    def _checked(self, role: str, current: Sequence[str], codes: Sequence[str]) -> tuple[str, ...]:
        """``codes`` in the registry's canonical form, sorted, without repeats."""
        known = {c.casefold(): c for c in current}
        registry = self._registry() if self._registry is not None else None
        out: set[str] = set()
        for raw in codes:
            code = raw.strip()
            if code.casefold() in known:
                out.add(known[code.casefold()])
                continue
            agency = registry.get(code) if registry is not None and code else None
            if agency is None:
                raise InvalidRequest(
                    f"unknown agency code {code!r}: not in the agency registry",
                    message_vi=f"mã định danh cơ quan {code!r} không có trong danh mục cơ quan",
                    code="accounts.unknown_agency",
                    details={"field": "agency", "agency": code},
                )
            out.add(agency.code)
        if out and role not in BOUND_ROLES:
            raise InvalidRequest(
                f"agencies bind only {', '.join(sorted(BOUND_ROLES))} accounts, not {role!r} "
                "(the other roles act for every agency or none)",
                message_vi=f"chỉ tài khoản {', '.join(sorted(BOUND_ROLES))} mới gắn với cơ quan, "
                f"không phải {role!r}",
                code="accounts.agencies_role",
                details={"field": "agency"},
            )
        return tuple(sorted(out))

    def _change(self, row: OperatorRow, actor: str, what: str, **details: Any) -> None:
        if not (row.role == "admin" and not row.disabled):
            others = [
                r
                for r in self._store.all()
                if r.name != row.name and r.role == "admin" and not r.disabled
            ]
            old = self._store.get(row.name)
            if not others and old is not None and old.role == "admin" and not old.disabled:
                raise Conflict(
                    f"{row.name!r} is the last active admin: add another admin first",
                    message_vi=f"{row.name!r} là quản trị viên cuối cùng: thêm quản trị viên khác",
                    code="accounts.last_admin",
                    details={"field": "name"},
                )
        self._store.save(replace(row, changed_at=self._clock.now()))
        ended = self._store.end_sessions(row.name)
        self._forget(row.name)
        self._record(actor, f"account.{what}", row.name, sessions_ended=ended, **details)

    # -------------------------------------------------------------------------- logins

    def login(self, name: str, password: str, *, address: str | None) -> LoginResult:
        """Check a password under the throttle; a session value on success (audited)."""
        now = self._clock.now()
        try:
            name = check_name(name)
        except InvalidRequest:
            name = name.strip()[:64] or "-"
        keys = [f"account:{name}"] + ([f"address:{address}"] if address else [])
        wait = max(self._locked_for(key, now) for key in keys)
        if wait > 0:
            emit(
                "login_throttled",
                "login_throttled",
                actor=name,
                remote=address,
                retry_after_s=wait,
            )
            self._record(f"{name}@{address or '-'}", "dashboard.login", name, "auth.throttled")
            return LoginResult(None, None, "throttled", wait)
        row = self._store.get(name)
        good = self._hasher.verify(row.password_hash if row else self._decoy_hash(), password)
        if row is None or not good or row.disabled:
            for key in keys:
                self._store.record_failure(key, now)
            why = "unknown account" if row is None else "disabled" if good else "wrong password"
            emit("login_failed", "auth_failed", actor=name, remote=address, reason=why)
            self._record(f"{name}@{address or '-'}", "dashboard.login", name, "auth.failed")
            return LoginResult(None, None, "bad")
        if self._hasher.needs_rehash(row.password_hash):
            self._store.save(replace(row, password_hash=self._hasher.hash(password)))
        self._store.clear_failures(keys[0])
        value = secrets.token_urlsafe(32)
        self._store.open_session(SessionRow(session_key(value), name, now, now, address))
        self._record(name, "dashboard.login", name, remote=address)
        return LoginResult(value, Operator(row.name, row.role))

    def change_own_password(self, name: str, current: str, new: str, *, address: str | None) -> str:
        """A person changes their own password, proving the current one; a fresh session value.

        The check of ``current`` is throttled like a login (a stolen session cannot guess the
        password at leisure); a wrong one is a failure of the account and of the address, a
        security event and an audit row, and raises :class:`InvalidRequest`
        (``accounts.wrong_password``, or ``accounts.throttled`` while locked). On success every
        session of the account ends — another browser that knew the old password is out — and
        the caller gets a new session for the browser that made the change."""
        row = self.get(name)
        now = self._clock.now()
        keys = [f"account:{row.name}"] + ([f"address:{address}"] if address else [])
        wait = max(self._locked_for(key, now) for key in keys)
        if wait > 0:
            emit("password_throttled", "login_throttled", actor=row.name, remote=address)
            raise InvalidRequest(
                f"too many wrong passwords: try again in {wait} s",
                message_vi=f"nhập sai mật khẩu quá nhiều lần: thử lại sau {wait} giây",
                code="accounts.throttled",
                details={"field": "current", "retry_after_s": wait},
            )
        check_password(new)
        if row.disabled or not self._hasher.verify(row.password_hash, current):
            for key in keys:
                self._store.record_failure(key, now)
            emit("password_change_failed", "auth_failed", actor=row.name, remote=address)
            self._record(f"{row.name}@{address or '-'}", "account.passwd", row.name, "auth.failed")
            raise InvalidRequest(
                "the current password is wrong",
                message_vi="mật khẩu hiện tại không đúng",
                code="accounts.wrong_password",
                details={"field": "current"},
            )
        self._store.clear_failures(keys[0])
        hashed = self._hasher.hash(new)
        self._change(replace(row, password_hash=hashed), row.name, "passwd", own=True)
        value = secrets.token_urlsafe(32)
        self._store.open_session(SessionRow(session_key(value), row.name, now, now, address))
        return value

    def _decoy_hash(self) -> str:
        """Checked against when the name is unknown, so a wrong name costs as long as a wrong
        password (no timing oracle for which accounts exist). Made at first need."""
        if self._decoy is None:
            self._decoy = self._hasher.hash(secrets.token_urlsafe(16))
        return self._decoy

    def _locked_for(self, key: str, now: dt.datetime) -> int:
        p = self.policy
        seen = self._store.failures(key, now - dt.timedelta(seconds=p.window_s))
        if len(seen) < p.max_failures:
            return 0
        lock = min(p.lock_s * 2 ** (len(seen) - p.max_failures), p.lock_max_s)
        left = (seen[-1] + dt.timedelta(seconds=lock) - now).total_seconds()
        return max(0, int(left + 0.999))

    # ------------------------------------------------------------------------ sessions

    def operator(self, value: str) -> Operator | None:
        """The operator of a session value, ``None`` when unknown, expired or ended."""
        key = session_key(value)
        mono = self._monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and mono - cached[0] < self.policy.cache_s:
            return cached[1]
        found = self._check(key)
        with self._lock:
            if found is None:
                self._cache.pop(key, None)
            else:
                self._cache[key] = (mono, found)
        return found

    def _check(self, key: str) -> Operator | None:
        p, now = self.policy, self._clock.now()
        session = self._store.session(key)
        if session is None:
            return None
        row = self._store.get(session.operator)
        too_old = (now - session.created_at).total_seconds() > p.absolute_s
        idle = (now - session.seen_at).total_seconds() > p.idle_s
        if row is None or row.disabled or too_old or idle:
            self._store.end_session(key)
            return None
        if (now - session.seen_at).total_seconds() >= p.touch_s:
            self._store.touch_session(key, now)
        return Operator(row.name, row.role)

    def logout(self, value: str) -> str | None:
        """End one session; the account it belonged to (audited), ``None`` if none."""
        key = session_key(value)
        session = self._store.session(key)
        self._store.end_session(key)
        with self._lock:
            self._cache.pop(key, None)
        if session is None:
            return None
        self._record(session.operator, "dashboard.logout", session.operator)
        return session.operator

    def _forget(self, name: str) -> None:
        with self._lock:
            for key in [k for k, (_, op) in self._cache.items() if op.name == name]:
                del self._cache[key]
