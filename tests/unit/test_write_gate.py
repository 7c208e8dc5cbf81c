"""The in-process line of SQLite writers (``adapters.store.write_gate``): arrival order, the
urgent line first, a bounded wait, and a release from any thread."""

from __future__ import annotations

import threading

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
