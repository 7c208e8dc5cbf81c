"""One long-lived event loop per thread behind the synchronous faces of pyHanko's async API.

``asyncio.run`` per call makes a new loop and, when it returns, shuts that loop's default
executor down — and pyHanko runs blocking steps in that executor (``asyncio.to_thread`` while
validating a signature, the PKCS#11 ``sign`` call while signing). So every verification and
every signature started a thread and joined it again: about a fifth of a verification's CPU
and a tenth of a signature's (``bench/RESULTS-seal.md``). :func:`run` keeps one loop per
thread — and with it one executor — for as long as the thread lives.

Same contract as ``asyncio.run`` otherwise: it refuses to run inside a running loop (call the
coroutine's ``await`` form there), and tasks a coroutine leaves behind are cancelled before it
returns.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _ThreadLoop:
    """The loop of one thread; closed (with its executor) when the thread's locals go."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        weakref.finalize(self, self.loop.close)


_local = threading.local()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on this thread's event loop and return its result."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        coro.close()
        raise RuntimeError("signing.loop.run() cannot be called from a running event loop")
    held: _ThreadLoop | None = getattr(_local, "held", None)
    if held is None or held.loop.is_closed():
        held = _local.held = _ThreadLoop()
    loop = held.loop
    try:
        return loop.run_until_complete(coro)
    finally:
        left = asyncio.all_tasks(loop)
        if left:
            for task in left:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
