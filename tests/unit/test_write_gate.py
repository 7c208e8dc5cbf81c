"""The line of SQLite writers (``adapters.store.write_gate``): arrival order, the urgent line
first, a bounded wait, a release from any thread — and the file lock that carries the line
across processes."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from adapters.store.engine import create_engine
from adapters.store.write_gate import WriteGate


def _queue_behind(gate: WriteGate, name: str, order: list[str], *, urgent: bool = False) -> None:
    """Start a thread that waits for ``gate``, records ``name`` and releases it at once."""

    def wait() -> None:
        assert gate.acquire(5.0, urgent=urgent)
        order.append(name)
        gate.release()

    threading.Thread(target=wait, daemon=True).start()


def _waiting(gate: WriteGate) -> int:
    return len(gate._waiters) + len(gate._urgent)


def _until_waiting(gate: WriteGate, n: int) -> None:
    """Wait (bounded) until ``n`` threads are parked in the gate's lines."""
    for _ in range(500):
        if _waiting(gate) == n:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"{_waiting(gate)} waiters, expected {n}")


def test_waiters_get_the_gate_in_arrival_order() -> None:
    gate, order = WriteGate(), []
    assert gate.acquire(1.0)
    for n in range(5):
        _queue_behind(gate, f"w{n}", order)
        _until_waiting(gate, n + 1)
    gate.release()
    _until_waiting(gate, 0)
    assert gate.acquire(5.0)  # every waiter has had and released it
    assert order == ["w0", "w1", "w2", "w3", "w4"]


def test_urgent_waiters_go_before_the_others() -> None:
    gate, order = WriteGate(), []
    assert gate.acquire(1.0)
    _queue_behind(gate, "push-1", order)
    _until_waiting(gate, 1)
    _queue_behind(gate, "dispatch", order, urgent=True)
    _until_waiting(gate, 2)
    _queue_behind(gate, "push-2", order)
    _until_waiting(gate, 3)
    _queue_behind(gate, "relay", order, urgent=True)
    _until_waiting(gate, 4)
    gate.release()
    assert gate.acquire(5.0)
    assert order == ["dispatch", "relay", "push-1", "push-2"]


def test_a_waiter_gives_up_after_its_timeout_and_leaves_the_line() -> None:
    gate = WriteGate()
    assert gate.acquire(1.0)
    assert gate.acquire(0.05) is False
    assert _waiting(gate) == 0  # the timed-out ticket is not handed the gate later
    gate.release()
    assert gate.acquire(0.05) is True  # free again


def test_the_holder_may_release_from_another_thread() -> None:
    gate = WriteGate()
    assert gate.acquire(1.0)
    releaser = threading.Thread(target=gate.release)
    releaser.start()
    releaser.join()
    assert gate.acquire(0.5) is True


# ------------------------------------------------------------------ across processes


_HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def _other_process_holding(path: Path) -> subprocess.Popen[str]:
    """A process that holds the writers' file lock until it is killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def _free_in_another_process(path: Path) -> bool:
    """Whether another process could take the file lock right now."""
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
        "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n"
        "    sys.exit(1)\n"
    )
    return subprocess.run([sys.executable, "-c", probe, str(path)]).returncode == 0


def test_the_gate_holds_the_writers_file_lock_while_it_is_held(tmp_path: Path) -> None:
    lock = tmp_path / "hub.db-writer.lock"
    gate = WriteGate(str(lock))
    assert gate.acquire(1.0)
    assert not _free_in_another_process(lock)
    gate.release()
    assert _free_in_another_process(lock)


def test_a_writer_waits_for_another_process_and_gives_up_after_its_timeout(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "hub.db-writer.lock"
    gate = WriteGate(str(lock))
    other = _other_process_holding(lock)
    try:
        assert gate.acquire(0.1) is False
        assert gate._held is False  # the line moved on: the next writer may try
    finally:
        other.kill()  # dies holding it: the kernel drops the lock
        other.wait()
    assert gate.acquire(1.0) is True


def test_the_next_writer_in_the_process_gets_the_gate_when_one_gave_up(tmp_path: Path) -> None:
    lock = tmp_path / "hub.db-writer.lock"
    gate, order = WriteGate(str(lock)), []
    other = _other_process_holding(lock)
    assert gate.acquire(0.05) is False
    other.kill()
    other.wait()
    _queue_behind(gate, "next", order)
    for _ in range(500):
        if order:
            break
        threading.Event().wait(0.01)
    assert order == ["next"]


def test_two_gates_on_one_file_take_turns(tmp_path: Path) -> None:
    # two engines on one database (two processes' worth): one writer at a time
    lock = str(tmp_path / "hub.db-writer.lock")
    first, second = WriteGate(lock), WriteGate(lock)
    assert first.acquire(1.0)
    assert second.acquire(0.05) is False
    first.release()
    assert second.acquire(1.0) is True


def test_a_write_transaction_of_the_hubs_engine_holds_the_file_lock_beside_the_database(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    lock = tmp_path / "hub.db-writer.lock"
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x)")
            assert not _free_in_another_process(lock)
        assert _free_in_another_process(lock)
        reading = engine.connect().execution_options(sqlite_begin="DEFERRED")
        with reading as conn, conn.begin():
            conn.exec_driver_sql("SELECT count(*) FROM t").scalar()
            assert _free_in_another_process(lock)  # readers never take it
    finally:
        engine.dispose()


def test_a_lock_file_this_process_cannot_open_leaves_writers_to_sqlites_busy_handler(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock = tmp_path / "missing-dir" / "hub.db-writer.lock"  # cannot be created
    gate = WriteGate(str(lock))
    with caplog.at_level(logging.WARNING, logger="adapters.store.write_gate"):
        assert gate.acquire(1.0) is True
    assert "not used" in caplog.text
    gate.release()
    assert gate.acquire(1.0) is True
