"""signing.loop.run: asyncio.run's contract, on one long-lived loop (and executor) per thread."""

from __future__ import annotations

import asyncio
import threading

import pytest

from signing import loop


async def _executor_thread() -> int:
    """The id of the thread the loop's default executor runs blocking work on."""
    return await asyncio.to_thread(threading.get_ident)


def test_the_loop_and_its_executor_thread_are_kept_between_calls() -> None:
    async def current() -> int:
        return id(asyncio.get_running_loop())

    assert loop.run(current()) == loop.run(current())
    worker = loop.run(_executor_thread())
    # asyncio.run shuts the executor down and joins its thread before returning.
    assert worker in {t.ident for t in threading.enumerate()}
    assert worker != threading.get_ident()


def test_each_thread_has_its_own_loop() -> None:
    async def current() -> int:
        return id(asyncio.get_running_loop())

    here = loop.run(current())
    there: list[int] = []
    worker = threading.Thread(target=lambda: there.append(loop.run(current())))
    worker.start()
    worker.join()
    assert there
    assert there[0] != here


def test_results_and_errors_come_back_as_from_asyncio_run() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    async def answers() -> int:
        await asyncio.sleep(0)
        return 42

    with pytest.raises(ValueError, match="boom"):
        loop.run(fails())
    assert loop.run(answers()) == 42  # the loop survives a failed call


def test_tasks_left_behind_are_cancelled() -> None:
    left: list[asyncio.Task[None]] = []

    async def leaves_a_task() -> None:
        left.append(asyncio.get_running_loop().create_task(asyncio.sleep(3600)))
        await asyncio.sleep(0)

    loop.run(leaves_a_task())
    assert left[0].cancelled()


def test_refused_inside_a_running_loop() -> None:
    async def nested() -> None:
        coro = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="running event loop"):
            loop.run(coro)

    asyncio.run(nested())
