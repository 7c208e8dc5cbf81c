"""``lienthong users add | list | disable | enable | passwd | role | agencies``: the console's
accounts.

A password is never an argument (it would sit in the shell history and in ``ps``): it is asked
twice on a terminal, or read as the first line of standard input when that is not a terminal
(``printf '%s\\n' "$PW" | lienthong users add ana --role operator``). Every change is audited
with actor ``cli``; a change of password, role or state ends the account's open sessions.

A clerk (``--role clerk``) seals only for the agencies listed on its account: give them at
``add`` (``--agency CODE``, repeated) or later with ``users agencies NAME --set/--add/--remove``;
each new code must be in the agency registry (an unknown one is refused by name).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import TextIO

from hub.access import ROLES
from hub.entrypoints.cli_hub import _build, _common
from hub.errors import InvalidRequest

ACTOR = "cli"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("users", help="console accounts: add, list, disable, passwd, role")
    usub = p.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    q = usub.add_parser("add", help="a new account (password from a prompt or standard input)")
    _common(q)
    q.add_argument("name")
    # Not ``role``: that attribute is the hub's role for the server commands (cli_hub).
    q.add_argument("--role", dest="account_role", required=True, choices=ROLES)
    q.add_argument(
        "--agency",
        dest="agencies",
        action="append",
        default=[],
        metavar="CODE",
        help="an agency a clerk seals for (repeat for more)",
    )
    q.set_defaults(handler=_add)
    q = usub.add_parser("list", help="every account, its role and state")
    _common(q)
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=_list)
    for action, text in (
        ("disable", "refuse the account's logins and end its sessions"),
        ("enable", "let a disabled account log in again"),
        ("passwd", "set a new password (prompt or standard input); ends its sessions"),
    ):
        q = usub.add_parser(action, help=text)
        _common(q)
        q.add_argument("name")
        q.set_defaults(handler=_change, action=action)
    q = usub.add_parser("role", help="give the account another role; ends its sessions")
    _common(q)
    q.add_argument("name")
    q.add_argument("account_role", metavar="ROLE", choices=ROLES)
    q.set_defaults(handler=_change, action="role")
    q = usub.add_parser(
        "agencies", help="show or change the agencies a clerk seals for (no option: show)"
    )
    _common(q)
    q.add_argument("name")
    q.add_argument(
        "--set", dest="set_codes", nargs="*", metavar="CODE", help="replace the list (none: empty)"
    )
    q.add_argument("--add", dest="add_codes", action="append", default=[], metavar="CODE")
    q.add_argument("--remove", dest="remove_codes", action="append", default=[], metavar="CODE")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=_agencies)


def read_password(stdin: TextIO | None = None) -> str:
    """Twice from the terminal, or one line of a non-terminal standard input."""
    stdin = stdin or sys.stdin
    if not stdin.isatty():
        line = stdin.readline()
        return line.removesuffix("\n").removesuffix("\r")
    first = getpass.getpass("Mật khẩu / Password: ")
    if getpass.getpass("Nhập lại / Again: ") != first:
        raise InvalidRequest(
            "the two passwords differ",
            message_vi="hai lần nhập mật khẩu khác nhau",
            code="accounts.password_mismatch",
            details={"field": "password"},
        )
    return first


def _add(args: argparse.Namespace) -> int:
    password = read_password()
    with _build(args) as hub:
        accounts = hub.accounts()
        row = accounts.add(
            args.name, args.account_role, password, actor=ACTOR, agencies=args.agencies
        )
        codes = accounts.agencies_of(row.name)
    bound = f" for {', '.join(codes)}" if codes else ""
    print(f"lienthong: account {row.name} added ({row.role}){bound}")
    return 0


def _list(args: argparse.Namespace) -> int:
    with _build(args) as hub:
        accounts = hub.accounts()
        rows, bound = accounts.list(), accounts.all_agencies()
    if args.json:
        out = [
            {
                "name": r.name,
                "role": r.role,
                "disabled": r.disabled,
                "agencies": list(bound.get(r.name, ())),
                "created_at": r.created_at.isoformat(),
                "changed_at": r.changed_at.isoformat(),
            }
            for r in rows
        ]
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        state = "off" if r.disabled else "on "
        codes = " ".join(bound.get(r.name, ()))
        print(f"{state} {r.name:32} {r.role:9} {r.changed_at:%Y-%m-%d %H:%M}Z {codes}".rstrip())
    return 0


def _change(args: argparse.Namespace) -> int:
    password = read_password() if args.action == "passwd" else ""
    with _build(args) as hub:
        accounts = hub.accounts()
        if args.action in ("disable", "enable"):
            accounts.set_disabled(args.name, args.action == "disable", actor=ACTOR)
        elif args.action == "passwd":
            accounts.set_password(args.name, password, actor=ACTOR)
        else:
            accounts.set_role(args.name, args.account_role, actor=ACTOR)
    print(f"lienthong: account {args.name}: {args.action} done; its sessions are ended")
    return 0


def _agencies(args: argparse.Namespace) -> int:
    change = args.set_codes is not None or args.add_codes or args.remove_codes
    with _build(args) as hub:
        accounts = hub.accounts()
        name = accounts.get(args.name).name
        if change:
            codes = accounts.set_agencies(
                name, args.set_codes, add=args.add_codes, remove=args.remove_codes, actor=ACTOR
            )
        else:
            codes = accounts.agencies_of(name)
    if args.json:
        print(json.dumps({"name": name, "agencies": list(codes)}, ensure_ascii=False, indent=2))
    elif change:
        print(f"lienthong: account {name} seals for: {', '.join(codes) or '(no agency)'}")
    else:
        print("\n".join(codes))
    return 0
