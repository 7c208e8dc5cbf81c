"""``lienthong demo`` end to end: a real hub on SQLite + the embedded broker, real HTTP on
127.0.0.1, a document signed with generated demo material, statuses back.

The demo asserts its own outcomes; these tests check that it says so (exit status and the key
lines), that ``--keep`` leaves a store whose rows agree with what was printed, and that a
broken trust path makes the demo fail loudly instead of printing success.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from hub.entrypoints.cli import main

pytestmark = pytest.mark.e2e


def test_demo_in_vietnamese(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for line in (
        "✔ kết quả kiểm tra chữ ký đã lưu: phong bì valid (hợp lệ)",
        "✔ 2/2 chữ ký PDF hợp lệ (person, agency)",
        "✔ văn bản đã đến hộp thư của 000.00.02.H41",
        "✔ tệp PDF đã ký đến nguyên vẹn (SHA-256 trùng khớp)",
        "✔ trạng thái chuyển giao: done",
        "✔ đã nhận các trạng thái 01, 03, 06",
        "✔ trạng thái xử lý: 06 — ",
        "✔ trạng thái 01, 03, 06 đã ghi nhận (mới nhất: 06)",
        "✔ máy chủ và các worker đã dừng gọn",
        "Thành công: mọi bước đều đạt",
    ):
        assert line in out, line
    assert "✘" not in out
    assert "THẤT BẠI" not in out
    # Nothing the hub logged as a warning either (a store that timed out, a relay pass that
    # failed, a refused request).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_demo_in_english(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lang", "en", "demo"]) == 0
    out = capsys.readouterr().out
    for line in (
        "✔ stored signature verdicts: envelope valid (valid)",
        "✔ 2/2 PDF signatures valid (person, agency)",
        "✔ the document arrived in 000.00.02.H41's inbox",
        "✔ statuses received: 01, 03, 06",
        "✔ statuses 01, 03, 06 recorded (latest: 06)",
        "Success: every step passed",
    ):
        assert line in out, line
    assert "FAILED" not in out


def test_kept_store_holds_what_the_demo_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keep = tmp_path / "demo"
    assert main(["--lang", "en", "demo", "--keep", str(keep)]) == 0
    capsys.readouterr()
    assert (keep / "pki" / "demo-root.pem").is_file()
    signed = keep / "125-UBND-VP.signed.pdf"
    assert signed.read_bytes().count(b"/ByteRange") == 2  # person + agency signatures

    db = sqlite3.connect(keep / "data" / "hub.db")
    try:
        [(verdicts,)] = db.execute("SELECT verdicts FROM documents WHERE kind = 'edoc'").fetchall()
        rows = db.execute(
            "SELECT d.recipient_code, d.state, d.business_status FROM deliveries d "
            "JOIN documents o ON o.id = d.doc_id WHERE o.kind = 'edoc'"
        ).fetchall()
        statuses = db.execute(
            "SELECT d.state FROM deliveries d JOIN documents o ON o.id = d.doc_id "
            "WHERE o.kind = 'status'"
        ).fetchall()
    finally:
        db.close()
    stored = json.loads(verdicts) if isinstance(verdicts, str) else verdicts
    assert stored["envelope"] == "valid"
    assert (stored["pdf_checked"], stored["pdf_bad"]) == (2, 0)
    assert rows == [("000.00.02.H41", "done", "06")]
    assert sorted(statuses) == [("done",)] * 3

    # A second run refuses to mix its data into the first one's.
    assert main(["--lang", "en", "demo", "--keep", str(keep)]) == 2
    assert "is not empty" in capsys.readouterr().out


def test_demo_fails_loudly_when_revocation_data_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no CRL published the hub cannot judge the signer's certificate: the stored envelope
    status is ``indeterminate`` (not invalid: nothing is wrong with the signature, the
    revocation data is missing), and the demo must say which step failed and exit 1."""
    from signing.demo_material import CrlServer

    monkeypatch.setattr(CrlServer, "publish", lambda self, crl_der: None)
    assert main(["--lang", "en", "demo"]) == 1
    out = capsys.readouterr().out
    assert "✘ stored signature verdicts: envelope indeterminate (valid)" in out
    assert "FAILED: stored signature verdicts: envelope indeterminate" in out
    assert "Success" not in out
