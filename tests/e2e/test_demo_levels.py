"""``lienthong demo --levels`` end to end: three ``lienthong run`` processes (the national axis,
H41, H14) on temporary SQLite stores, a document from a commune of H41 to a department of H14
through the axis, and the statuses back.

The demo asserts its own outcomes; these tests check that it says so (exit status and the key
lines), that ``--keep`` leaves the three installations with their logs (free of package
bodies), and that a province which never announces its department makes the demo fail at that
step with a non-zero exit instead of printing success.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.entrypoints import demo_levels
from hub.entrypoints.cli import main

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_levels_demo_shows_every_hop_and_the_statuses_back(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    keep = tmp_path / "levels"
    assert main(["--lang", "en", "demo", "--levels", "--keep", str(keep)]) == 0
    out = capsys.readouterr().out
    for line in (
        "✔ national axis: hub.h41 hosts 000.00.65.H41",
        "✔ national axis: hub.h14 hosts 000.00.02.H14",
        "✔ H41 forwarded it to the national axis",
        "✔ H14 took it from the axis into 000.00.02.H14's inbox",
        "✔ trace: 000.00.65.H41 → 000.00.00.H41 → 000.00.00.G22 → 000.00.00.H14",
        "✔ 000.00.02.H14: status 06, transport done (at H14, through the axis)",
        "✔ h14 stopped cleanly",
        "Success: every step passed",
    ):
        assert line in out, line
    assert "✘" not in out
    for site in ("axis", "h41", "h14"):
        log = (keep / site / "run.log").read_bytes()
        assert b"edXMLEnvelope" not in log, site
        assert b"Traceback" not in log, site


def test_the_levels_demo_speaks_vietnamese_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--levels"]) == 0
    out = capsys.readouterr().out
    assert "✔ H41 đã chuyển lên trục quốc gia (forwarded)" in out
    assert "Thành công: mọi bước đều đạt" in out


def test_a_department_never_announced_at_the_axis_fails_the_demo(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # H14 hosts a code outside its own scope: its announcer never registers it at the axis.
    monkeypatch.setattr(demo_levels, "DEPARTMENT", "000.00.02.H15")
    monkeypatch.setattr(demo_levels, "WAIT_S", 3.0)

    assert main(["--lang", "en", "demo", "--levels"]) == 1

    out = capsys.readouterr().out
    assert "✘ national axis: hub.h14 hosts 000.00.02.H15" in out
    assert "FAILED: national axis: hub.h14 hosts 000.00.02.H15" in out
    assert "Success" not in out


def test_a_kept_directory_must_be_new(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x", encoding="utf-8")
    assert main(["--lang", "en", "demo", "--levels", "--keep", str(tmp_path)]) == 2
    assert "is not empty" in capsys.readouterr().out
