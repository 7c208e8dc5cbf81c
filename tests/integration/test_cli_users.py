"""``lienthong users …`` on a temporary data dir: the password comes from standard input (never
an argument), the accounts are stored with argon2id hashes, changes are audited as ``cli``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from hub.entrypoints.bootstrap import build_hub
from hub.entrypoints.cli import main
from hub.settings import load_settings

PASSWORD = "mat-khau-dai-7"


def _run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_users_add_list_role_disable_enable_passwd(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    d = str(tmp_path)
    code, out, _ = _run(
        capsys, monkeypatch, "users", "add", "Lan", "--role", "auditor", "--data-dir", d,
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert (code, out.strip()) == (0, "lienthong: account lan added (auditor)")
    code, out, _ = _run(capsys, monkeypatch, "users", "list", "--json", "--data-dir", d)
    [listed] = json.loads(out)
    assert (listed["name"], listed["role"], listed["disabled"]) == ("lan", "auditor", False)
    assert "hash" not in out
    assert PASSWORD not in out

    for argv in (("role", "lan", "operator"), ("disable", "lan"), ("enable", "lan")):
        code, _, _ = _run(capsys, monkeypatch, "users", *argv, "--data-dir", d)
        assert code == 0
    code, _, _ = _run(
        capsys, monkeypatch, "users", "passwd", "lan", "--data-dir", d, stdin="khac-han-nhe-8\n"
    )
    assert code == 0

    hub = build_hub(load_settings(env={"LIENTHONG_DATA_DIR": d}))
    try:
        accounts = hub.accounts()
        assert accounts.login("lan", PASSWORD, address=None).session is None
        ok = accounts.login("lan", "khac-han-nhe-8", address=None)
        assert ok.operator is not None
        assert ok.operator.role == "operator"
        actions = [(r.actor, r.action) for r in hub.monitor().audit(action="account.")]
    finally:
        hub.close()
    assert actions == [
        ("cli", "account.passwd"),
        ("cli", "account.enable"),
        ("cli", "account.disable"),
        ("cli", "account.role"),
        ("cli", "account.add"),
    ]


def test_users_refusals_name_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    d = str(tmp_path)
    code, _, err = _run(
        capsys, monkeypatch, "--lang", "en", "users", "add", "lan", "--role", "admin",
        "--data-dir", d, stdin="short\n",
    )  # fmt: skip
    assert code == 2
    assert "at least 10 characters" in err
    assert "[accounts.weak_password]" in err
    code, _, err = _run(
        capsys, monkeypatch, "--lang", "en", "users", "disable", "nobody", "--data-dir", d
    )
    assert code == 2
    assert "no account 'nobody'" in err
    with pytest.raises(SystemExit):  # argparse: an unknown role is a usage error
        main(["users", "add", "lan", "--role", "root", "--data-dir", d])


def test_a_clerk_is_added_with_its_agencies_and_they_change_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    d = str(tmp_path)
    code, out, _ = _run(
        capsys, monkeypatch, "users", "add", "van.thu", "--role", "clerk",
        "--agency", "000.00.02.H41", "--agency", "H41.03", "--data-dir", d,
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert (code, out.strip()) == (
        0,
        "lienthong: account van.thu added (clerk) for 000.00.02.H41, 000.00.03.H41",
    )
    code, out, _ = _run(capsys, monkeypatch, "users", "list", "--json", "--data-dir", d)
    [listed] = json.loads(out)
    assert (listed["role"], listed["agencies"]) == ("clerk", ["000.00.02.H41", "000.00.03.H41"])
    code, out, _ = _run(capsys, monkeypatch, "users", "list", "--data-dir", d)
    assert out.rstrip().endswith("000.00.02.H41 000.00.03.H41")

    code, out, _ = _run(
        capsys, monkeypatch, "users", "agencies", "van.thu", "--add", "000.00.04.H41",
        "--remove", "000.00.02.H41", "--json", "--data-dir", d,
    )  # fmt: skip
    assert json.loads(out) == {"name": "van.thu", "agencies": ["000.00.03.H41", "000.00.04.H41"]}
    code, out, _ = _run(capsys, monkeypatch, "users", "agencies", "van.thu", "--data-dir", d)
    assert out.split() == ["000.00.03.H41", "000.00.04.H41"]
    code, out, _ = _run(
        capsys, monkeypatch, "users", "agencies", "van.thu", "--set", "000.00.05.H41",
        "--data-dir", d,
    )  # fmt: skip
    assert out.strip() == "lienthong: account van.thu seals for: 000.00.05.H41"
    code, out, _ = _run(
        capsys, monkeypatch, "users", "agencies", "van.thu", "--set", "--data-dir", d
    )
    assert out.strip() == "lienthong: account van.thu seals for: (no agency)"

    code, _, err = _run(
        capsys, monkeypatch, "--lang", "en", "users", "agencies", "van.thu",
        "--add", "000.00.99.H41", "--data-dir", d,
    )  # fmt: skip
    assert code == 2
    assert "unknown agency code '000.00.99.H41'" in err
    assert "[accounts.unknown_agency]" in err
    code, _, err = _run(
        capsys, monkeypatch, "--lang", "en", "users", "add", "oanh", "--role", "operator",
        "--agency", "000.00.02.H41", "--data-dir", d, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 2
    assert "[accounts.agencies_role]" in err

    hub = build_hub(load_settings(env={"LIENTHONG_DATA_DIR": d}))
    try:
        rows = hub.monitor().audit(action="account.agencies")
        assert [r.actor for r in rows] == ["cli", "cli", "cli"]
        assert [r.name for r in hub.accounts().list()] == ["van.thu"]
    finally:
        hub.close()
