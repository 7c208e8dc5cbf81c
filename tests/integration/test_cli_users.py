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
