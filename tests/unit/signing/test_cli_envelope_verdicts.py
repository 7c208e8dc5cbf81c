"""``lienthong verify`` on signed edXML envelopes: the three verdicts in JSON, text, exit status.

Offline, with the PKI's CRL files: both CRLs → valid; the package changed after signing →
invalid ``HASH_FAILURE``; only the signer's CRL (the sub-CA's revocation unknown) →
indeterminate ``TRY_LATER``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.entrypoints.cli import main
from signing.keys import LoadedKey
from signing.xmldsig import sign_envelope
from tests.factories import make_edoc


@pytest.fixture
def signed(tmp_path: Path, loaded_keys: dict[str, LoadedKey]) -> dict[str, Path]:
    data = sign_envelope(make_edoc(attachments=[], subject="Về việc thử"), loaded_keys["agency"])
    good = tmp_path / "good.edxml"
    good.write_bytes(data)
    changed = tmp_path / "changed.edxml"
    changed.write_bytes(data.replace("Về việc thử".encode(), "Về việc sửa".encode(), 1))
    assert changed.read_bytes() != data
    return {"good": good, "changed": changed}


def _args(key_files: dict[str, Path], *files: Path, crls: tuple[str, ...]) -> list[str]:
    out = ["verify", *map(str, files), "--trust", str(key_files["anchors.pem"]), "--offline"]
    for name in crls:
        out += ["--crl", str(key_files[name])]
    return out


BOTH = ("sub-ca.crl", "root.crl")


def test_valid_envelope(
    signed: dict[str, Path], key_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main([*_args(key_files, signed["good"], crls=BOTH), "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert (entry["verdict"], entry["subindication"]) == ("valid", None)
    assert (entry["envelope"]["verdict"], entry["envelope"]["subindication"]) == ("valid", None)


def test_changed_envelope_is_invalid(
    signed: dict[str, Path], key_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main([*_args(key_files, signed["changed"], crls=BOTH), "--json"]) == 1
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["envelope"]["status"] == "digest_mismatch"
    assert (entry["verdict"], entry["subindication"]) == ("invalid", "HASH_FAILURE")
    assert main(_args(key_files, signed["changed"], crls=BOTH)) == 1
    out = capsys.readouterr().out
    assert "digest_mismatch [KHÔNG HỢP LỆ (HASH_FAILURE)]" in out
    assert "KẾT LUẬN: KHÔNG HỢP LỆ" in out


def test_unknown_sub_ca_revocation_is_indeterminate(
    signed: dict[str, Path], key_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    only_leaf = ("sub-ca.crl",)
    capsys.readouterr()
    assert main([*_args(key_files, signed["good"], crls=only_leaf), "--json"]) == 3
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["envelope"]["status"] == "unknown_revocation"
    assert (entry["verdict"], entry["subindication"]) == ("indeterminate", "TRY_LATER")
    assert main(["--lang", "en", *_args(key_files, signed["good"], crls=only_leaf)]) == 3
    out = capsys.readouterr().out
    assert "unknown_revocation [INDETERMINATE (TRY_LATER)]" in out
    assert "RESULT: INDETERMINATE" in out
    # a changed package among them: the run as a whole is invalid
    both = _args(key_files, signed["good"], signed["changed"], crls=only_leaf)
    assert main(both) == 1
