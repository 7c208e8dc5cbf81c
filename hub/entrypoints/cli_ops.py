"""``lienthong deadletters list | redrive | discard`` and ``lienthong trace``: the IT staff's
dead-letter work and a document's timeline, in a terminal.

Dead letters are deliveries in ``dead`` (a peer refused or stayed down past the give-up age)
or ``undeliverable`` (no route). ``redrive`` puts them back to ``queued`` (routes computed
again; a running hub dispatches them at its next outbox sweep); ``discard`` gives them up for
good with a required reason the sender then sees. Both are audited (actor ``cli:<login>``) and
work in batches, each its own transaction, with a progress bar on a terminal. ``--all`` (every
dead letter the ``--system`` / ``--peer`` filters keep) asks before it acts unless ``--yes`` is
given; without a terminal to ask on it refuses. ``discard`` also takes ``retry_wait``
deliveries by id (a push still being retried that IT staff know will never succeed).

Exit status: 0 done; 1 some named deliveries were not moved (unknown, or not in a state the
action leaves); 2 usage or input error (an empty reason, ``--all`` without ``--yes`` and no
terminal).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from typing import Any

from hub.entrypoints.cli_hub import _build, _common
from hub.entrypoints.cli_output import Progress, batches, print_json, problem_json

#: Deliveries per transaction of a redrive or discard of many.
BATCH = 200
#: Attempts of one batch that keeps racing a running hub's workers.
RACE_RETRIES = 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "deadletters", help="dead and undeliverable deliveries: list, redrive, discard"
    )
    dsub = p.add_subparsers(dest="deadletters_command", metavar="ACTION", required=True)

    q = dsub.add_parser("list", help="dead letters, longest unchanged first")
    _common(q)
    _filters(q)
    q.add_argument("--limit", type=int, default=100)
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=_list)

    q = dsub.add_parser("redrive", help="put dead letters back to queued (routes computed again)")
    _common(q)
    q.add_argument("ids", nargs="*", metavar="ID", help="delivery ids")
    q.add_argument("--all", action="store_true", help="every dead letter (after the filters)")
    _filters(q)
    q.add_argument("--yes", action="store_true", help="do not ask (non-interactive use)")
    q.set_defaults(handler=_redrive)

    q = dsub.add_parser("discard", help="give dead letters up for good, with a reason")
    _common(q)
    q.add_argument("ids", nargs="*", metavar="ID", help="delivery ids (retry_wait ones too)")
    q.add_argument("--all", action="store_true", help="every dead letter (after the filters)")
    _filters(q)
    q.add_argument("--reason", required=True, help="why (shown to the sender, audited)")
    q.add_argument("--yes", action="store_true", help="do not ask (non-interactive use)")
    q.set_defaults(handler=_discard)

    p = sub.add_parser("trace", help="a document's timeline: every hop in time order")
    _common(p)
    p.add_argument(
        "term", metavar="DOCID", help="the hub's DocId, an edXML DocumentId, or a delivery id"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_trace)


def actor() -> str:
    """Who acts, for the audit log: ``cli:<login>`` (``cli`` when the login is unknown)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return "cli"


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--system", help="only documents pushed by this sending system")
    p.add_argument(
        "--peer",
        help="only deliveries bound for this peer hub ('national': the axis; 'none': no route)",
    )


def _list(args: argparse.Namespace) -> int:
    with _build(args) as hub:
        items = hub.monitor().dead_letters(system=args.system, peer=args.peer, limit=args.limit)
    if args.json:
        print_json([problem_json(i) for i in items])
        return 0
    print(f"{len(items)} dead letters")
    for i in items:
        d = i.delivery
        print(
            f"{d.id}  {d.updated_at:%Y-%m-%d %H:%M:%S}Z  {d.state:13} {d.recipient_code:16} "
            f"{d.peer_name or d.route:10} {i.sender_system or '-':16} x{d.attempts}  "
            f"{d.last_error or ''}"
        )
    return 0


def _redrive(args: argparse.Namespace) -> int:
    with _build(args) as hub:
        monitor = hub.monitor()
        ids = _chosen(args, monitor, "redrive")
        if ids is None:
            return 2
        moved = _in_batches("redrive", ids, lambda chunk: monitor.redrive(chunk, actor=actor()))
    return _report("put back to queued", ids, moved, note=bool(moved))


def _discard(args: argparse.Namespace) -> int:
    from hub.services.dispatch import discard_reason

    reason = discard_reason(args.reason)  # refused before anything is read or asked
    with _build(args) as hub:
        monitor = hub.monitor()
        ids = _chosen(args, monitor, "discard")
        if ids is None:
            return 2
        moved = _in_batches(
            "discard", ids, lambda chunk: monitor.discard(chunk, reason=reason, actor=actor())
        )
    return _report("discarded", ids, moved, note=False)


def _chosen(args: argparse.Namespace, monitor: Any, verb: str) -> list[str] | None:
    """The ids named, or with ``--all`` every dead letter the filters keep (after asking);
    ``None`` on a usage error or a refusal."""
    if bool(args.ids) == bool(args.all):
        print("lienthong: name delivery ids or --all (not both)", file=sys.stderr)
        return None
    if not args.all:
        return list(args.ids)
    items = monitor.dead_letters(system=args.system, peer=args.peer, limit=None)
    ids = [i.delivery.id for i in items]
    if ids and not args.yes and not _confirm(f"{verb} {len(ids)} dead letters?"):
        return None
    return ids


def _in_batches(
    label: str, ids: Sequence[str], act: Callable[[Sequence[str]], list[str]]
) -> list[str]:
    """``act`` on ``ids`` in batches of :data:`BATCH`, each its own transaction. A batch that
    raced a running hub's worker (``delivery.raced``: one of its deliveries moved meanwhile)
    rolled back whole and is done again — each action re-reads and skips what moved on."""
    from hub.errors import Conflict

    moved: list[str] = []
    with Progress(label, len(ids)) as bar:
        for chunk in batches(ids, BATCH):
            for attempt in range(RACE_RETRIES):
                try:
                    moved.extend(act(chunk))
                    break
                except Conflict as exc:
                    if exc.code != "delivery.raced" or attempt == RACE_RETRIES - 1:
                        raise
            bar.advance(len(chunk))
    return moved


def _report(what: str, ids: Sequence[str], moved: list[str], *, note: bool) -> int:
    print(f"lienthong: {len(moved)} deliveries {what}")
    done = set(moved)
    skipped = [i for i in dict.fromkeys(ids) if i not in done]
    if skipped:
        print(
            f"lienthong: not moved (unknown, or not in a state this leaves): {', '.join(skipped)}"
        )
    if note:
        # The dispatch messages wait in the outbox; a running hub's relay publishes them.
        print("lienthong: a running hub dispatches them at its next outbox sweep")
    return 1 if skipped else 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        print(f"lienthong: {question} — pass --yes to confirm without a terminal", file=sys.stderr)
        return False
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes", "c", "có")


def _trace(args: argparse.Namespace) -> int:
    with _build(args) as hub:
        traces = hub.monitor().trace(args.term)
    if args.json:
        print_json([t.to_dict() for t in traces])
        return 0
    for n, trace in enumerate(traces):
        if n:
            print()
        _print_trace(trace)
    return 0


def _print_trace(trace: Any) -> None:
    d = trace.document
    code = "/".join(x for x in (d.code_number, d.code_notation) if x)
    print(f"DocId {d.id}  {d.kind}" + (f"  DocumentId {d.document_id}" if d.document_id else ""))
    print(f"  from {d.sender_code} ({d.sender_system})" + (f"  số {code}" if code else ""))
    if d.subject:
        print(f"  {d.subject}")
    for hop in trace.hops:
        print(f"{hop.at:%Y-%m-%d %H:%M:%S}Z  {hop.kind:9} {hop.text}")
