"""The console's door and its people: login, logout, and the accounts page (``/dashboard/…``).

* ``GET/POST /dashboard/login`` — a named account's name and password
  (:class:`hub.services.accounts.Accounts`: argon2id, throttled per account and per address),
  or, with an empty name, the shared admin token (``admin.token``) for an ``admin-token``
  session. A good login sets an ``HttpOnly``, ``SameSite=Strict`` session cookie; a refused one
  is a security event and an audit row (the service writes both). The form must be
  same-origin (there is no session yet to bind a CSRF token to).
* ``POST /dashboard/logout`` — ends the session in every API process (a person's session is
  deleted in the database; an admin-token session moves this process' epoch).
* ``GET/POST /dashboard/account`` — a person's own account: name, role, agencies, and a new
  password given with the current one (throttled like a login; every other session of the
  account ends, this browser gets a fresh one). Any named account; the shared admin token and
  loopback mode have no account of their own.
* ``GET/POST /dashboard/users`` — accounts: list, add, disable, enable, change role, set a new
  password, set a clerk's agencies. Only for operators who :func:`~hub.access.may`
  ``accounts`` (admins); every change is audited with who made it; a change of state, role or
  password ends the account's sessions. A refusal travels to the page as its code alone (a
  link cannot put words on the page), except an unknown agency code: that answer is the page
  itself, naming the code the admin typed.

The page shell (layout, language, escaping, the capped form reader) is the dashboard's, handed
in by :func:`~adapters.http.console.mount_dashboard` as a :class:`Kit`.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from adapters.http.admin_access import (
    LOOPBACK_OPERATOR,
    SESSION_COOKIE,
    TOKEN_OPERATOR,
    AdminAccess,
)
from hub.access import BOUND_ROLES, ROLES
from hub.errors import HubError
from hub.security import emit
from hub.services.accounts import MIN_PASSWORD, Accounts
from hub.services.monitor import Monitor

PREFIX = "/dashboard"

_L: dict[str, tuple[str, str]] = {
    "login": ("Đăng nhập", "Log in"),
    "name": ("Tên tài khoản", "Account name"),
    "password": ("Mật khẩu", "Password"),
    "token_hint": (
        "Để trống tên tài khoản để đăng nhập bằng mã quản trị.",
        "Leave the account name empty to log in with the admin token.",
    ),
    "bad": ("Tên tài khoản hoặc mật khẩu không đúng.", "Wrong account name or password."),
    "throttled": (
        "Đăng nhập sai quá nhiều lần. Thử lại sau {n} giây.",
        "Too many failed logins. Try again in {n} seconds.",
    ),
    "users": ("Tài khoản", "Accounts"),
    "role": ("Vai trò", "Role"),
    "state": ("Trạng thái", "State"),
    "active": ("hoạt động", "active"),
    "disabled": ("đã khóa", "disabled"),
    "changed": ("Thay đổi", "Changed"),
    "add": ("Thêm tài khoản", "Add account"),
    "disable": ("Khóa", "Disable"),
    "enable": ("Mở khóa", "Enable"),
    "set_role": ("Đổi vai trò", "Change role"),
    "passwd": ("Đặt mật khẩu", "Set password"),
    "actions": ("Thao tác", "Actions"),
    "agencies": ("Cơ quan (văn thư)", "Agencies (clerk)"),
    "set_agencies": ("Lưu cơ quan", "Save agencies"),
    "agencies_hint": (
        "Mã định danh, cách nhau bởi dấu cách",
        "Agency codes, separated by spaces",
    ),
    "done": ("Đã lưu.", "Saved."),
    "account": ("Tài khoản của tôi", "My account"),
    "no_account": (
        "Phiên này không thuộc tài khoản nào (mã quản trị hoặc truy cập nội bộ).",
        "This session belongs to no account (the admin token or loopback access).",
    ),
    "current": ("Mật khẩu hiện tại", "Current password"),
    "new_password": ("Mật khẩu mới", "New password"),
    "repeat": ("Nhập lại mật khẩu mới", "New password again"),
    "change_password": ("Đổi mật khẩu", "Change password"),
    "password_changed": (
        "Đã đổi mật khẩu; các phiên khác của tài khoản đã kết thúc.",
        "Password changed; the account's other sessions have ended.",
    ),
    "accounts.mismatch": ("Hai lần nhập mật khẩu mới không khớp.", "The new passwords differ."),
    "denied": ("Tài khoản của bạn không có quyền này.", "Your account may not do this."),
    "accounts.bad_name": (
        "Tên tài khoản: 1-64 ký tự a-z, 0-9, '.', '_', '-'.",
        "Account name: 1-64 characters from a-z, 0-9, '.', '_' and '-'.",
    ),
    "accounts.bad_role": ("Vai trò không hợp lệ.", "Unknown role."),
    "accounts.weak_password": (
        f"Mật khẩu: tối thiểu {MIN_PASSWORD} ký tự.",
        f"Password: at least {MIN_PASSWORD} characters.",
    ),
    "accounts.exists": ("Tài khoản này đã có.", "That account exists."),
    "accounts.not_found": ("Không có tài khoản này.", "No such account."),
    "accounts.last_admin": (
        "Đây là quản trị viên cuối cùng: thêm quản trị viên khác trước.",
        "This is the last active admin: add another admin first.",
    ),
    "accounts.agencies_role": (
        "Chỉ tài khoản văn thư (clerk) mới được giao cơ quan.",
        "Only clerk accounts are given agencies.",
    ),
    "accounts.refused": ("Không thực hiện được.", "Not done."),
}


@dataclass(frozen=True, slots=True)
class Kit:
    """The dashboard's page shell, handed to these routes."""

    render: Callable[..., Response]
    """``render(request, html_text, status=200)`` with the console's security headers."""
    page_of: Callable[[Request], Any]
    """The rendering context (``.lang``, ``.form_token()``, ``.csrf``)."""
    layout: Callable[..., str]
    """``layout(page, active, title, body, nav=True)`` → the whole HTML page."""
    form_of: Callable[[Request], Awaitable[dict[str, list[str]]]]
    """The capped urlencoded form reader."""
    csrf_refused: Callable[[Request], Response]


def t(page: Any, key: str, **kw: object) -> str:
    vi, en = _L[key]
    text = en if page.lang == "en" else vi
    return html.escape(text.format(**kw) if kw else text)


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _first(form: dict[str, list[str]], key: str) -> str:
    return (form.get(key) or [""])[0]


def _remote(request: Request) -> str | None:
    return request.client.host if request.client else None


def login_routes(
    access: AdminAccess, monitor: Monitor, accounts: Accounts | None, kit: Kit
) -> APIRouter:
    """The routes of the module docstring."""
    router = APIRouter(include_in_schema=False)

    def set_session(request: Request, response: Response, value: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=access.max_age_s if accounts is None else int(accounts.policy.absolute_s),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )

    @router.get(f"{PREFIX}/login")
    def login_form(request: Request, failed: int = 0, wait: int = 0) -> Response:
        page = kit.page_of(request)
        if not access.login_enabled:
            return RedirectResponse(f"{PREFIX}/", 303)
        error = ""
        if wait > 0:
            error = f'<p class="error" role="alert">{t(page, "throttled", n=wait)}</p>'
        elif failed:
            error = f'<p class="error" role="alert">{t(page, "bad")}</p>'
        hint = f'<p class="muted">{t(page, "token_hint")}</p>' if access.token_configured else ""
        body = (
            f'{error}<form method="post" action="{PREFIX}/login">'
            f'<p><label>{t(page, "name")}<br><input type="text" name="name" '
            f'autocomplete="username" autofocus></label></p>'
            f'<p><label>{t(page, "password")}<br><input type="password" name="password" '
            f'autocomplete="current-password"></label></p>'
            f"<button>{t(page, 'login')}</button></form>{hint}"
        )
        return kit.render(request, kit.layout(page, "", t(page, "login"), body, nav=False))

    @router.post(f"{PREFIX}/login")
    async def login(request: Request) -> Response:
        form = await kit.form_of(request)
        name, password = _first(form, "name").strip(), _first(form, "password")
        token = _first(form, "token") or (password if not name else "")
        if token:  # the shared admin token (scrapers' credential; an emergency login)
            return await token_login(request, token)
        # No session yet to bind a token to: the origin check is the login's CSRF defence.
        if accounts is None or not access.same_origin(request):
            return await run_in_threadpool(kit.csrf_refused, request)
        result = await run_in_threadpool(accounts.login, name, password, address=_remote(request))
        if result.session is None:
            if result.refused == "throttled":
                return RedirectResponse(f"{PREFIX}/login?wait={result.retry_after_s}", 303)
            return RedirectResponse(f"{PREFIX}/login?failed=1", 303)
        response = RedirectResponse(f"{PREFIX}/", 303)
        set_session(request, response, result.session)
        return response

    async def token_login(request: Request, token: str) -> Response:
        actor = f"admin-token@{_remote(request) or '-'}"
        if not access.same_origin(request) or not access.token_ok(token):
            emit(
                "login_failed",
                "auth_failed",
                actor="admin-token",
                remote=_remote(request),
                path=request.url.path,
            )
            await run_in_threadpool(monitor.record, actor, "dashboard.login", None, "auth.failed")
            return RedirectResponse(f"{PREFIX}/login?failed=1", 303)
        await run_in_threadpool(monitor.record, actor, "dashboard.login", None)
        response = RedirectResponse(f"{PREFIX}/", 303)
        set_session(request, response, access.issue_session())
        return response

    @router.post(f"{PREFIX}/logout")
    async def logout(request: Request) -> Response:
        form = await kit.form_of(request)
        if not access.csrf_ok(request, _first(form, "csrf")):
            return await run_in_threadpool(kit.csrf_refused, request)
        value = request.cookies.get(SESSION_COOKIE, "")
        if value and "." not in value and accounts is not None:
            await run_in_threadpool(accounts.logout, value)
        elif value and access.session_ok(value):
            access.end_sessions()  # this one and any copy of it: a cookie is only a hint
            actor = f"admin-token@{_remote(request) or '-'}"
            await run_in_threadpool(monitor.record, actor, "dashboard.logout", None)
        target = f"{PREFIX}/login" if access.login_enabled else f"{PREFIX}/"
        response = RedirectResponse(target, 303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def own_account(request: Request) -> tuple[str | None, Response | None]:
        """The named account of the request, or the answer to give instead."""
        op = access.operator(request)
        if op is None:
            return None, RedirectResponse(f"{PREFIX}/login", 303)
        if accounts is None or op.name in (TOKEN_OPERATOR.name, LOOPBACK_OPERATOR.name):
            page = kit.page_of(request)
            body = f'<p class="muted">{t(page, "no_account")}</p>'
            return None, kit.render(request, kit.layout(page, "account", t(page, "account"), body))
        return op.name, None

    def account_page(request: Request, name: str, flash: str = "", status: int = 200) -> Response:
        assert accounts is not None
        page = kit.page_of(request)
        row = accounts.get(name)
        codes = " ".join(accounts.agencies_of(name)) or "—"
        field = '<p><label>{}<br><input type="password" name="{}" autocomplete="{}" required>'
        body = (
            f"{flash}<table><tbody>"
            f"<tr><th>{t(page, 'name')}</th><td><code>{_e(row.name)}</code></td></tr>"
            f"<tr><th>{t(page, 'role')}</th><td>{_e(row.role)}</td></tr>"
            f"<tr><th>{t(page, 'agencies')}</th><td>{_e(codes)}</td></tr></tbody></table>"
            f"<h2>{t(page, 'change_password')}</h2>"
            f'<form method="post" action="{PREFIX}/account">{page.form_token()}'
            + field.format(t(page, "current"), "current", "current-password")
            + "</label></p>"
            + field.format(t(page, "new_password"), "password", "new-password")
            + "</label></p>"
            + field.format(t(page, "repeat"), "repeat", "new-password")
            + f"</label></p><button>{t(page, 'change_password')}</button></form>"
        )
        html_text = kit.layout(page, "account", t(page, "account"), body)
        return kit.render(request, html_text, status)

    @router.get(f"{PREFIX}/account")
    def account(request: Request, saved: int = 0) -> Response:
        name, answer = own_account(request)
        if name is None:
            assert answer is not None
            return answer
        page = kit.page_of(request)
        flash = f'<p class="flash" role="status">{t(page, "password_changed")}</p>' if saved else ""
        return account_page(request, name, flash)

    @router.post(f"{PREFIX}/account")
    async def change_own(request: Request) -> Response:
        name, answer = own_account(request)
        if name is None:
            assert answer is not None
            return answer
        assert accounts is not None
        form = await kit.form_of(request)
        if not access.csrf_ok(request, _first(form, "csrf")):
            return await run_in_threadpool(kit.csrf_refused, request)
        current, new = _first(form, "current"), _first(form, "password")
        page = kit.page_of(request)
        if new != _first(form, "repeat"):
            said = f'<p class="error" role="alert">{t(page, "accounts.mismatch")}</p>'
            return await run_in_threadpool(account_page, request, name, said, 400)
        try:
            value = await run_in_threadpool(
                lambda: accounts.change_own_password(name, current, new, address=_remote(request))
            )
        except HubError as exc:
            said = f'<p class="error" role="alert">{_e(exc.message(page.lang))}</p>'
            return await run_in_threadpool(account_page, request, name, said, exc.http_status)
        response = RedirectResponse(f"{PREFIX}/account?saved=1", 303)
        set_session(request, response, value)
        return response

    def denied(request: Request) -> Response | None:
        """``None`` when the request may manage accounts; else the answer to give."""
        op = access.operator(request)
        if access.may(op, "accounts") and accounts is not None:
            return None
        page = kit.page_of(request)
        if op is None:
            return RedirectResponse(f"{PREFIX}/login", 303)
        emit(
            "console_refused",
            "access_refused",
            actor=op.name,
            remote=_remote(request),
            path=request.url.path,
            reason="role",
        )
        body = f'<p class="error" role="alert">{t(page, "denied")}</p>'
        return kit.render(request, kit.layout(page, "", t(page, "users"), body), 403)

    @router.get(f"{PREFIX}/users")
    def users(request: Request, saved: int = 0, error: str = "") -> Response:
        refused = denied(request)
        if refused is not None:
            return refused
        assert accounts is not None
        page = kit.page_of(request)
        return kit.render(
            request,
            kit.layout(page, "users", t(page, "users"), _users_body(page, accounts, saved, error)),
        )

    @router.post(f"{PREFIX}/users")
    async def change(request: Request) -> Response:
        refused = denied(request)
        if refused is not None:
            return refused
        assert accounts is not None
        form = await kit.form_of(request)
        if not access.csrf_ok(request, _first(form, "csrf")):
            return await run_in_threadpool(kit.csrf_refused, request)
        actor = access.operator(request)
        who = actor.name if actor is not None else "-"
        do, name = _first(form, "do"), _first(form, "name")
        try:
            if do == "add":
                role, password = _first(form, "role"), _first(form, "password")
                codes = _codes(_first(form, "agencies"))
                await run_in_threadpool(
                    lambda: accounts.add(name, role, password, actor=who, agencies=codes)
                )
            elif do == "agencies":
                codes = _codes(_first(form, "agencies"))
                await run_in_threadpool(lambda: accounts.set_agencies(name, codes, actor=who))
            elif do in ("disable", "enable"):
                flag = do == "disable"
                await run_in_threadpool(lambda: accounts.set_disabled(name, flag, actor=who))
            elif do == "role":
                role = _first(form, "role")
                await run_in_threadpool(lambda: accounts.set_role(name, role, actor=who))
            elif do == "passwd":
                password = _first(form, "password")
                await run_in_threadpool(lambda: accounts.set_password(name, password, actor=who))
            else:
                return RedirectResponse(f"{PREFIX}/users?error=accounts.refused", 303)
        except HubError as exc:
            if exc.code == "accounts.unknown_agency":  # name the code typed: the page itself
                page = kit.page_of(request)
                body = _users_body(page, accounts, 0, "", said=exc.message(page.lang))
                html_text = kit.layout(page, "users", t(page, "users"), body)
                return kit.render(request, html_text, exc.http_status)
            # Only the code travels in the URL: a link cannot put words on this page.
            return RedirectResponse(f"{PREFIX}/users?error={quote(exc.code)}", 303)
        return RedirectResponse(f"{PREFIX}/users?saved=1", 303)

    return router


def _codes(text: str) -> list[str]:
    """The agency codes of a form field (spaces, commas or new lines between them)."""
    return text.replace(",", " ").split()


def _users_body(page: Any, accounts: Accounts, saved: int, error: str, said: str = "") -> str:
    """The accounts page; ``error`` is a known refusal code, ``said`` a refusal's own words."""
    flash = f'<p class="flash" role="status">{t(page, "done")}</p>' if saved else ""
    if error:
        known = error if error in _L and error.startswith("accounts.") else "accounts.refused"
        flash = f'<p class="error" role="alert">{t(page, known)}</p>'
    if said:
        flash = f'<p class="error" role="alert">{_e(said)}</p>'
    bound = accounts.all_agencies()
    options = "".join(f'<option value="{r}">{r}</option>' for r in ROLES)

    def act(name: str, do: str, label: str, extra: str = "") -> str:
        return (
            f'<form class="inline" method="post" action="{PREFIX}/users">{page.form_token()}'
            f'<input type="hidden" name="do" value="{do}">'
            f'<input type="hidden" name="name" value="{_e(name)}">{extra}'
            f'<button class="small">{t(page, label)}</button></form>'
        )

    pw_field = (
        f'<input type="password" name="password" aria-label="{t(page, "password")}" '
        f'autocomplete="new-password" required> '
    )
    rows = []
    for r in accounts.list():
        toggle = (
            act(r.name, "enable", "enable") if r.disabled else act(r.name, "disable", "disable")
        )
        role_pick = (
            f'<select name="role" aria-label="{t(page, "role")}">'
            + "".join(
                f'<option value="{x}"{" selected" if x == r.role else ""}>{x}</option>'
                for x in ROLES
            )
            + "</select> "
        )
        codes = " ".join(bound.get(r.name, ()))
        agencies = _e(codes)
        if r.role in BOUND_ROLES:
            field = (
                f'<input type="text" name="agencies" value="{_e(codes)}" size="32" '
                f'aria-label="{t(page, "agencies")}" title="{t(page, "agencies_hint")}"> '
            )
            agencies = act(r.name, "agencies", "set_agencies", field)
        rows.append(
            f"<tr><td><code>{_e(r.name)}</code></td><td>{_e(r.role)}</td><td>{agencies}</td>"
            f'<td class="{"bad" if r.disabled else "ok"}">'
            f"{t(page, 'disabled' if r.disabled else 'active')}</td>"
            f"<td>{_e(r.changed_at.strftime('%Y-%m-%d %H:%M'))} UTC</td>"
            f"<td>{toggle} {act(r.name, 'role', 'set_role', role_pick)} "
            f"{act(r.name, 'passwd', 'passwd', pw_field)}</td></tr>"
        )
    head = "".join(
        f"<th>{t(page, k)}</th>"
        for k in ("name", "role", "agencies", "state", "changed", "actions")
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    add = (
        f'<h2>{t(page, "add")}</h2><form method="post" action="{PREFIX}/users">'
        f'{page.form_token()}<input type="hidden" name="do" value="add">'
        f'<label>{t(page, "name")} <input type="text" name="name" required></label> '
        f'<label>{t(page, "role")} <select name="role">{options}</select></label> '
        f'<label>{t(page, "agencies")} <input type="text" name="agencies" '
        f'title="{t(page, "agencies_hint")}"></label> '
        f'<label>{t(page, "password")} <input type="password" name="password" '
        f'autocomplete="new-password" required></label> '
        f"<button>{t(page, 'add')}</button></form>"
    )
    return flash + table + add
