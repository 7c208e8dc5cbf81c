"""SQLite's write lock, queued inside the process: writers wait in line instead of sleeping.

Why. SQLite has one writer per database file. A second ``BEGIN IMMEDIATE`` that finds the lock
taken is handed to SQLite's busy handler, which *sleeps* and tries again — 1, 2, 5, 10 … up to
100 ms between tries — and never learns when the lock is freed. In the embedded hub every
writer lives in one process (the intake's group commit, the relay, the broker's claims and
settlements, dispatch, pulls, the sealers): under load the lock changed hands every 1–3 ms,
yet a waiter woke up to 100 ms later, and a package crosses five or six write transactions
between its push and its inbox (bench/RESULTS-hub.md, "embedded defaults").

What. Each connection of one engine takes a :class:`WriteGate` ticket before its
``BEGIN IMMEDIATE`` and gives it back right after its ``COMMIT`` / ``ROLLBACK`` (or when the
connection is closed): the next writer in line is woken the moment the lock is free, in arrival
order (no writer starves behind a stream of pushes); callers that pass
``engine.execution_options(sqlite_write_urgent=True)`` are served first (:class:`WriteGate`).
The line crosses processes too. A gate built with the database's path also holds an exclusive
``flock`` on a file beside it (``<database>-writer.lock``) from ``BEGIN IMMEDIATE`` to the end
of the transaction, so the writers of several processes on one file (``lienthong run
--workers N``, a CLI command next to a running hub) queue on that lock instead of in SQLite's
busy handler: a waiter retries every 0.1–1 ms, not every 1–100 ms. The kernel drops the lock of
a process that dies, so a crash never leaves it held. A writer that does not take it (another
program on the file, or a process that may not open the lock file: it logs a warning) still
meets the busy handler, exactly as before.

Hazards. A writer that waits for the gate (or the file lock) longer than the busy timeout
fails as it did before (``database is locked`` → :class:`hub.errors.StoreUnavailable`), so a
thread that opens a second write transaction while holding one still fails after the timeout
instead of hanging. Deferred (read-only) transactions never take the gate.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections import deque
from typing import Any

log = logging.getLogger(__name__)

#: The file lock's retries: the first pause, and the longest (each pause is 1.5× the last).
FILE_LOCK_FIRST_PAUSE_S = 0.0001
FILE_LOCK_LONGEST_PAUSE_S = 0.001


class WriterFileLock:
    """An exclusive ``flock`` on ``path``: the writers of every process on one database.

    ``flock`` has no timeout, so :meth:`acquire` tries without blocking and, while another
    process holds the lock, again after short pauses until its deadline. Only the thread that
    holds the process's :class:`WriteGate` calls it, so one file descriptor serves the process.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._unusable = False

    def _try(self) -> bool:
        if self._unusable:
            return True
        if self._fd is None:
            try:  # read-only is enough for flock: any process that may read the database
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as err:
                # e.g. created by another user: this process's writers meet SQLite's busy
                # handler, as they did before the lock existed
                log.warning("writers' lock %s not used: %s", self.path, err.strerror)
                self._unusable = True
                return True
            weakref.finalize(self, os.close, self._fd)  # with the engine that owns the gate
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def acquire(self, timeout_s: float) -> bool:
        """Hold the lock within ``timeout_s``; ``False`` when another process kept it."""
        if self._try():
            return True
        deadline = time.monotonic() + timeout_s
        pause = FILE_LOCK_FIRST_PAUSE_S
        while time.monotonic() < deadline:
            time.sleep(pause)
            if self._try():
                return True
            pause = min(pause * 1.5, FILE_LOCK_LONGEST_PAUSE_S)
        return False

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


class WriteGate:
    """A first-in, first-out lock whose holder may release it from any thread, with two lines.

    ``threading.Lock`` wakes an arbitrary waiter; here each waiter parks on its own lock and
    the releaser hands ownership to the oldest one directly. ``urgent`` waiters (the work that
    moves already accepted packages on: relay, broker, dispatch) are served before the others
    (new pushes, pulls): finishing accepted work before taking more keeps push→inbox latency
    bounded under load, and cannot starve the others — urgent work only exists because a
    push was accepted.
    """

    def __init__(self, lock_path: str | None = None) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._urgent: deque[threading.Lock] = deque()
        self._waiters: deque[threading.Lock] = deque()
        self._file = WriterFileLock(lock_path) if lock_path else None

    def acquire(self, timeout_s: float, *, urgent: bool = False) -> bool:
        """Wait at most ``timeout_s`` for the gate (and the other processes' writers, when the
        gate has a file lock); ``True`` once it is ours."""
        deadline = time.monotonic() + timeout_s
        if not self._enter(timeout_s, urgent):
            return False
        if self._file is None or self._file.acquire(max(0.0, deadline - time.monotonic())):
            return True
        self._hand_on()  # another process kept the database: the next in line may try
        return False

    def _enter(self, timeout_s: float, urgent: bool) -> bool:
        line = self._urgent if urgent else self._waiters
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            ticket = threading.Lock()
            ticket.acquire()
            line.append(ticket)
        if ticket.acquire(timeout=max(0.0, timeout_s)):
            return True  # handed over by release()
        with self._mutex:
            if ticket in line:
                line.remove(ticket)
                return False
        return True  # handed over between the timeout and the mutex: ours after all

    def release(self) -> None:
        """Give the file lock back, then hand the gate to the oldest urgent waiter, else the
        oldest waiter, or open it."""
        if self._file is not None:
            self._file.release()
        self._hand_on()

    def _hand_on(self) -> None:
        with self._mutex:
            line = self._urgent or self._waiters
            if line:
                line.popleft().release()  # ownership passes on; _held stays True
            else:
                self._held = False


class GatedConnection(sqlite3.Connection):
    """A ``sqlite3`` connection that gives its engine's gate back when its transaction ends.

    The engine's ``begin`` hook calls :meth:`enter_gate`; ``commit``, ``rollback`` and
    ``close`` release it *after* SQLite has released its own lock, so the next writer's
    ``BEGIN IMMEDIATE`` succeeds at once.
    """

    gate: WriteGate | None = None
    synchronous = ""
    """The ``PRAGMA synchronous`` level last set on this connection (the engine's hooks)."""
    _holds_gate = False

    def enter_gate(self, timeout_s: float, *, urgent: bool = False) -> None:
        """Take the gate (before ``BEGIN IMMEDIATE``); raises ``sqlite3.OperationalError``
        ("database is locked", as SQLite's busy handler would) after ``timeout_s``."""
        if self.gate is None or self._holds_gate:
            return
        if not self.gate.acquire(timeout_s, urgent=urgent):
            raise sqlite3.OperationalError("database is locked (waited for the write gate)")
        self._holds_gate = True

    def leave_gate(self) -> None:
        """Give the gate back (idempotent)."""
        if self._holds_gate and self.gate is not None:
            self._holds_gate = False
            self.gate.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.leave_gate()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.leave_gate()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.leave_gate()


def gated_connect_args(timeout_s: float) -> dict[str, Any]:
    """``connect_args`` for ``sqlite3.connect``: the busy timeout and the gated class."""
    return {"timeout": timeout_s, "factory": GatedConnection}
