"""``lienthong inbound list | poll``: what the hub took from its peers' inboxes.

``list`` shows the items of ``inbound_items`` newest first — accepted ones with the document
they became, refused ones with the reason the peer was given ``fail`` for (IT staff follow up
with the sending agency; the item is never fetched again). ``poll`` runs one round of the
inbound loop now (announce hosted agencies, poll every peer's inbox, track forwarded copies)
and prints what it did; a running hub does the same every ``inbound.poll_s`` seconds.
"""

from __future__ import annotations

import argparse

from hub.entrypoints.cli_hub import _build, _common
from hub.entrypoints.cli_output import print_json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("inbound", help="items taken from peers' inboxes (national axis, parent)")
    isub = p.add_subparsers(dest="inbound_command", metavar="ACTION", required=True)
    q = isub.add_parser("list", help="taken items, newest first (refused ones with the reason)")
    _common(q)
    q.add_argument("--peer", help="only this peer's items")
    q.add_argument("--refused", action="store_true", help="only refused items")
    q.add_argument("--limit", type=int, default=100)
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=_list)
    q = isub.add_parser("poll", help="one round now: announce, poll inboxes, track")
    _common(q)
    q.set_defaults(handler=_poll)


def _list(args: argparse.Namespace) -> int:
    with _build(args) as hub, hub.uow() as uow:
        rows = uow.inbound.recent(
            peer=args.peer, outcome="refused" if args.refused else None, limit=args.limit
        )
    if args.json:
        print_json(
            [
                {
                    "peer": r.peer,
                    "remote_id": r.remote_id,
                    "kind": r.kind.value,
                    "outcome": r.outcome,
                    "reason": r.reason,
                    "doc_id": r.doc_id,
                    "digest": r.digest,
                    "received_at": r.received_at.isoformat(),
                    "acked_at": r.acked_at.isoformat() if r.acked_at else None,
                }
                for r in rows
            ]
        )
        return 0
    print(f"{len(rows)} inbound items")
    for r in rows:
        acked = "acked" if r.acked_at else "ack owed"
        print(
            f"{r.received_at:%Y-%m-%d %H:%M:%S}Z  {r.peer:12} {r.remote_id:38} {r.kind.value:6} "
            f"{r.outcome:8} {acked:9} {r.doc_id or r.reason or ''}"
        )
    return 0


def _poll(args: argparse.Namespace) -> int:
    with _build(args) as hub:
        assert hub.inbound is not None
        report = hub.inbound.round()
    print(
        f"lienthong: {len(report.accepted)} accepted, {len(report.refused)} refused, "
        f"{report.skipped} already decided"
        + (f"; errors: {', '.join(report.errors)}" if report.errors else "")
    )
    return 1 if report.errors else 0
