"""``lienthong queues [--watch [SECONDS]] [--json] [--redrive QUEUE]``: what waits, where.

One frame shows the deliveries waiting per route and destination (dispatch, the recipient's
inbox, the next retry, and the dead letters) with the age of the oldest, then the broker's
queue depths (ready, delayed, dead-lettered messages). ``--watch`` redraws the frame in place
every SECONDS (2 by default) with plain ANSI escapes until Ctrl-C (a database that stops
answering is shown in the frame, and the watch goes on); when standard output is not a terminal
it prints one frame and stops, so a pipe or a log never fills with redraws. With
``--json`` a frame is one JSON object (on a terminal with ``--watch``, one per line and
interval). ``--redrive QUEUE`` first moves the broker's dead-lettered messages of QUEUE back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import sys
from typing import Any

from hub.entrypoints.cli_hub import _build, _common
from hub.entrypoints.cli_output import iso, print_json
from hub.errors import HubError

#: Home the cursor and clear the screen (ECMA-48 CUP + ED): the frame is drawn over the last.
CLEAR = "\x1b[H\x1b[2J"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("queues", help="what waits per route/system, broker queue depths")
    _common(p)
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--watch",
        nargs="?",
        type=float,
        const=2.0,
        default=None,
        metavar="SECONDS",
        help="redraw every SECONDS (default 2) until Ctrl-C; one frame when not a terminal",
    )
    p.add_argument("--redrive", metavar="QUEUE", help="move the queue's dead letters back")
    p.add_argument("--limit", type=int, default=100, help="how many --redrive moves at most")
    p.set_defaults(handler=_queues)


def _queues(args: argparse.Namespace) -> int:
    from hub.services.monitor import read_queue_depths

    if args.watch is not None and args.watch <= 0:
        print("lienthong: --watch needs a positive number of seconds", file=sys.stderr)
        return 2
    watch = args.watch is not None and sys.stdout.isatty()
    hub = _build(args)
    monitor = hub.monitor()

    async def main() -> None:
        await hub.broker.start()
        try:
            if args.redrive:
                moved = await hub.broker.redrive(args.redrive, args.limit)
                print(f"lienthong: {moved} dead letters of {args.redrive} redriven")
            while True:
                try:
                    at, backlog = monitor.backlog()
                    store_error = None
                except HubError as exc:
                    if not watch:
                        raise
                    # A watch outlives a database fail-over: say so in the frame, go on.
                    at, backlog = dt.datetime.now(dt.UTC), []
                    store_error = f"{exc.code}: {exc.message_en}"
                frame = _frame(at, backlog, store_error, await read_queue_depths(hub.broker))
                if args.json:
                    if watch:
                        print(json.dumps(frame, ensure_ascii=False), flush=True)
                    else:
                        print_json(frame)
                else:
                    text = _text(frame, args.watch if watch else None)
                    sys.stdout.write((CLEAR if watch else "") + text)
                    sys.stdout.flush()
                if not watch:
                    return
                await asyncio.sleep(args.watch)
        finally:
            await hub.broker.close()
            hub.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0


def _frame(at: dt.datetime, backlog: Any, store_error: str | None, depths: Any) -> dict[str, Any]:
    return {
        "at": iso(at),
        "store_error": store_error,
        "deliveries": [
            {
                "route": b.route,
                "destination": b.destination,
                "state": b.state,
                "count": b.count,
                "oldest_at": iso(b.oldest_at),
                "oldest_age_s": (
                    round((at - b.oldest_at).total_seconds()) if b.oldest_at else None
                ),
            }
            for b in backlog
        ],
        "broker": {
            "queues": [
                {"queue": s.queue, "ready": s.ready, "delayed": s.delayed, "dead": s.dead}
                for s in depths.stats
            ],
            "error": depths.error,
        },
    }


def _text(frame: dict[str, Any], every: float | None) -> str:
    lines = [
        f"lienthong queues — {frame['at'][:19].replace('T', ' ')}Z"
        + (f" (every {every:g} s, Ctrl-C to stop)" if every else "")
    ]
    lines.append(f"{'route':9} {'destination':24} {'state':14} {'count':>7} {'oldest':>9}")
    for r in frame["deliveries"]:
        lines.append(
            f"{r['route']:9} {r['destination'] or '-':24} {r['state']:14} {r['count']:>7} "
            f"{_age(r['oldest_age_s']):>9}"
        )
    if frame["store_error"]:
        lines.append(f"database not readable: {frame['store_error']}")
    elif not frame["deliveries"]:
        lines.append("(nothing waits)")
    lines.append("")
    lines.append(f"{'broker queue':24} {'ready':>7} {'delayed':>8} {'dead':>6}")
    for q in frame["broker"]["queues"]:
        lines.append(f"{q['queue']:24} {q['ready']:>7} {q['delayed']:>8} {q['dead']:>6}")
    if frame["broker"]["error"]:
        lines.append(f"broker not readable: {frame['broker']['error']}")
    return "\n".join(lines) + "\n"


def _age(seconds: int | None) -> str:
    """``45s``, ``12m05s``, ``3h07m``, ``2d04h``: the oldest waiting item's age."""
    if seconds is None:
        return "-"
    s = max(0, seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
