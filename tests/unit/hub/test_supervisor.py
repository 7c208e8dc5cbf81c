"""The API supervisor replaces dead children and gives up on a crash loop (real processes).

The children here are tiny Python programs instead of whole hubs, so the supervisor's own rules
are tested in seconds; ``tests/e2e/test_api_processes.py`` kills a real API process under load.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from hub.entrypoints import processes
from hub.entrypoints.processes import RestartPolicy, supervise
from hub.settings import load_settings

FAST = RestartPolicy(first_delay_s=0.05, max_delay_s=0.2, healthy_after_s=5.0, max_deaths=3)


def _settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_settings(env={"LIENTHONG_DATA_DIR": str(tmp_path)})


def _child_program(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    argv = [sys.executable, "-c", code]
    monkeypatch.setattr(processes, "child_command", lambda *a, **k: argv)


def test_a_crash_loop_stops_the_supervisor_with_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    _child_program(monkeypatch, "import sys; sys.exit(3)")
    started = time.monotonic()
    assert supervise(_settings(tmp_path), "serve", 2, "127.0.0.1", 0, policy=FAST) == 1
    assert time.monotonic() - started < 10
    err = capfd.readouterr().err
    assert "exited with 3" in err
    assert "crash loop" in err


def test_a_dead_child_is_replaced_and_a_signal_stops_the_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    pidfile = tmp_path / "pids"
    # Each child appends its pid, then sleeps until terminated.
    _child_program(
        monkeypatch,
        "import os, time\n"
        f"open({str(pidfile)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
        "time.sleep(60)\n",
    )

    def pids() -> list[int]:
        return [int(p) for p in pidfile.read_text().split()] if pidfile.exists() else []

    def chaos() -> None:
        deadline = time.monotonic() + 10
        while len(pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(pids()[0], signal.SIGKILL)
        while len(pids()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)  # the operator stops the group

    threading.Thread(target=chaos, daemon=True).start()
    assert supervise(_settings(tmp_path), "serve", 2, "127.0.0.1", 0, policy=FAST) == 0
    out = capfd.readouterr()
    assert len(pids()) == 3, out
    assert "replacing it" in out.err
    assert "API process replaced" in out.out
    for pid in pids():  # every child, first and replacement, is gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
