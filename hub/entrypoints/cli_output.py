"""What the ``lienthong`` commands share in how they print: JSON, tables, progress.

* :func:`print_json` — the one JSON shape of every ``--json``: UTF-8 text (Vietnamese as is),
  indented, times ISO 8601, keys in the order the command gives them (stable for scripts).
* :class:`Progress` — a one-line progress bar on standard error for long operations (registry
  import, redrive or discard of many), redrawn in place with a carriage return; silent when
  standard error is not a terminal, so logs and pipes get no control characters.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO, TypeVar

T = TypeVar("T")


def print_json(obj: Any, out: TextIO | None = None) -> None:
    """``obj`` as indented UTF-8 JSON on ``out`` (standard output by default)."""
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=_default), file=out or sys.stdout)


def iso(at: dt.datetime | None) -> str | None:
    """A time as ISO 8601 UTC, ``None`` kept."""
    return at.astimezone(dt.UTC).isoformat() if at is not None else None


def _default(obj: Any) -> Any:
    if isinstance(obj, dt.datetime):
        return iso(obj)
    return str(obj)


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in slices of ``size`` (the last one shorter)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Progress:
    """``label [#####.....] done/total`` on ``stream`` (standard error), only on a terminal.

    Redraws at most every ``every_s`` seconds (a terminal is slow next to a tight loop) and
    always on :meth:`close`, which ends the line.
    """

    WIDTH = 30

    def __init__(
        self,
        label: str,
        total: int,
        *,
        stream: TextIO | None = None,
        every_s: float = 0.1,
        enabled: bool | None = None,
    ) -> None:
        self._label = label
        self._total = max(0, total)
        self._stream = stream if stream is not None else sys.stderr
        self._every = every_s
        self._enabled = self._stream.isatty() if enabled is None else enabled
        self._done = 0
        self._drawn_at = 0.0

    @property
    def done(self) -> int:
        return self._done

    def advance(self, n: int = 1) -> None:
        self._done += n
        now = time.monotonic()
        if self._enabled and now - self._drawn_at >= self._every:
            self._draw()
            self._drawn_at = now

    def iterate(self, items: Iterable[T]) -> Iterator[T]:
        """Each of ``items``, advancing by one after each."""
        for item in items:
            yield item
            self.advance()

    def close(self) -> None:
        if self._enabled:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _draw(self) -> None:
        total = self._total or 1
        filled = min(self.WIDTH, self.WIDTH * self._done // total)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self._stream.write(f"\r{self._label} [{bar}] {self._done}/{self._total}")
        self._stream.flush()


def problem_json(item: Any) -> dict[str, Any]:
    """One :class:`hub.services.monitor.ProblemItem` as ``deliveries`` / ``deadletters`` list
    it with ``--json``."""
    d = item.delivery
    return {
        "delivery_id": d.id,
        "doc_id": d.doc_id,
        "recipient": d.recipient_code,
        "route": d.route,
        "destination": d.peer_name or d.system_id,
        "state": d.state,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
        "sender": item.sender_code,
        "sender_system": item.sender_system,
        "subject": item.subject,
        "redrivable": item.redrivable,
        "discardable": item.discardable,
    }
