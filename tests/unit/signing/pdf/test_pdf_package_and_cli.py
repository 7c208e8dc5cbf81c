"""Every PDF inside an edXML package, and the ``lienthong sign`` / ``lienthong verify`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.edxml.writer import OutgoingAttachment
from hub.entrypoints.cli import main
from signing.nd30 import DocumentKind
from signing.pdf_sign import Box, PdfSigningService, SignatureRole, SignRequest
from signing.pdf_verify import PdfVerifier
from tests.factories import make_edoc, pdf_attachment
from tests.pki import KEY_PASSWORD, TestPki
from tests.unit.signing.pdf.pdfkit import make_pdf, seal_png, signature_png

BOX = Box(330, 150, 510, 215)


@pytest.fixture(scope="module")
def signed_pair(
    person_service: PdfSigningService, agency_service: PdfSigningService
) -> tuple[bytes, bytes]:
    """(issued document signed by person + agency, appendix signed by the agency)."""
    doc = person_service.sign(
        make_pdf(1), SignRequest(SignatureRole.PERSON, box=BOX, image=signature_png())
    )
    doc = agency_service.sign(doc, SignRequest(SignatureRole.AGENCY, image=seal_png()))
    appendix = agency_service.sign(
        make_pdf(1), SignRequest(SignatureRole.ATTACHMENT, number="12/QĐ-UBND")
    )
    return doc, appendix


def test_every_pdf_of_a_package_is_verified(
    signed_pair: tuple[bytes, bytes], verifier: PdfVerifier
) -> None:
    doc, appendix = signed_pair
    note = OutgoingAttachment("3", "ghichu.txt", "text/plain", b"not a pdf")
    package = make_edoc(
        attachments=[
            pdf_attachment("van-ban.pdf", content_id="1", data=doc),
            note,
            pdf_attachment("phu-luc.pdf", content_id="2", data=appendix),
        ]
    )
    first, second = verifier.verify_package(package)
    assert (first.name, first.kind) == ("van-ban.pdf", DocumentKind.ISSUED)
    assert (second.name, second.kind) == ("phu-luc.pdf", DocumentKind.ATTACHMENT)
    assert first.bottom_line
    assert second.bottom_line
    assert first.nd30_warnings == ()
    assert second.nd30_warnings == ()
    # the same PDF sent again (other package, other name) is served from the cache
    again = make_edoc(attachments=[pdf_attachment("ban-sao.pdf", content_id="9", data=doc)])
    (cached,) = verifier.verify_package(again)
    assert cached.name == "ban-sao.pdf"
    assert cached.signatures is first.signatures


@pytest.fixture
def cli_env(
    key_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, Path]:
    monkeypatch.setenv("LIENTHONG_KEY_PIN", KEY_PASSWORD)
    monkeypatch.delenv("LIENTHONG_TRUST_ANCHORS", raising=False)
    (tmp_path / "in.pdf").write_bytes(make_pdf(1))
    (tmp_path / "sig.png").write_bytes(signature_png())
    (tmp_path / "seal.png").write_bytes(seal_png())
    return {**key_files, "dir": tmp_path}


def _verify_args(env: dict[str, Path], *files: Path) -> list[str]:
    return [
        "verify",
        *map(str, files),
        "--trust",
        str(env["anchors.pem"]),
        "--intermediates",
        str(env["intermediates.pem"]),
        "--crl",
        str(env["sub-ca.crl"]),
        "--crl",
        str(env["root.crl"]),
        "--offline",
    ]


def test_cli_signs_person_and_agency_then_verifies(
    cli_env: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    d = cli_env["dir"]
    rc = main(
        [
            "sign",
            "pdf",
            str(d / "in.pdf"),
            str(d / "p.pdf"),
            "--key",
            f"file:{cli_env['person.p12']}",
            "--as",
            "person",
            "--image",
            str(d / "sig.png"),
            "--box",
            "330,150,510,215",
        ]
    )
    assert rc == 0
    rc = main(
        [
            "--lang",
            "en",
            "sign",
            "pdf",
            str(d / "p.pdf"),
            str(d / "pa.pdf"),
            "--key",
            f"file:{cli_env['agency.p12']}",
            "--as",
            "agency",
            "--image",
            str(d / "seal.png"),
            "--agency-name",
            "Sở Thông tin và Truyền thông",
        ]
    )
    assert rc == 0
    capsys.readouterr()
    assert main(_verify_args(cli_env, d / "pa.pdf")) == 0
    out = capsys.readouterr().out
    assert "Nguyễn Văn An" in out
    assert "KẾT LUẬN: HỢP LỆ" in out
    # a person-only PDF still verifies (the ND30 warning is shown, not failed)
    assert main(["--lang", "en", *_verify_args(cli_env, d / "p.pdf")]) == 0
    assert "nd30.agency_missing" in capsys.readouterr().out


def test_cli_verify_json_and_failures(
    cli_env: dict[str, Path],
    signed_pair: tuple[bytes, bytes],
    capsys: pytest.CaptureFixture[str],
    pki: TestPki,
) -> None:
    d = cli_env["dir"]
    (d / "doc.pdf").write_bytes(signed_pair[0])
    (d / "edoc.edxml").write_bytes(
        make_edoc(attachments=[pdf_attachment("a.pdf", data=signed_pair[1])])
    )
    capsys.readouterr()
    assert main([*_verify_args(cli_env, d / "doc.pdf", d / "edoc.edxml"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [len(e["pdfs"]) for e in report] == [1, 1]
    assert report[1]["envelope"]["status"] in ("absent", "unverifiable")
    assert report[0]["pdfs"][0]["signatures"][0]["signer_class"] == "person"
    assert [e["verdict"] for e in report] == ["valid", "valid"]
    assert report[0]["pdfs"][0]["signatures"][0]["verdict"] == "valid"
    assert report[0]["pdfs"][0]["signatures"][0]["subindication"] is None
    # a package with nothing signed in it → indeterminate (NO_SIGNATURE), exit 3
    note = OutgoingAttachment("5", "note.txt", "text/plain", b"unsigned")
    (d / "plain.edxml").write_bytes(make_edoc(attachments=[note]))
    assert main(_verify_args(cli_env, d / "plain.edxml")) == 3
    out = capsys.readouterr().out
    assert "Không có chữ ký số nào kiểm tra được" in out
    assert "KẾT LUẬN: CHƯA XÁC ĐỊNH ĐƯỢC" in out
    # unsigned PDF → exit 3; no anchors → exit 2 (usage error, as for every command)
    assert main(_verify_args(cli_env, d / "in.pdf")) == 3
    assert main(["verify", str(d / "doc.pdf")]) == 2
    # an anchor the signatures do not chain to → indeterminate NO_CERTIFICATE_CHAIN_FOUND
    other = d / "other.pem"
    other.write_bytes(pki.impostor.cert_pem)
    capsys.readouterr()
    args = ["verify", str(d / "doc.pdf"), "--trust", str(other), "--offline", "--json"]
    assert main(args) == 3
    (entry,) = json.loads(capsys.readouterr().out)
    assert (entry["verdict"], entry["subindication"]) == (
        "indeterminate",
        "NO_CERTIFICATE_CHAIN_FOUND",
    )


def test_cli_signs_the_envelope(
    cli_env: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    d = cli_env["dir"]
    (d / "pkg.edxml").write_bytes(make_edoc())
    rc = main(
        [
            "sign",
            "envelope",
            str(d / "pkg.edxml"),
            str(d / "signed.edxml"),
            "--key",
            f"file:{cli_env['agency.p12']}",
        ]
    )
    assert rc == 0
    assert b"SignatureValue" in (d / "signed.edxml").read_bytes()
    capsys.readouterr()
    main([*_verify_args(cli_env, d / "signed.edxml"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report[0]["envelope"]["status"] == "valid"


def test_cli_rejects_bad_box_and_missing_input(
    cli_env: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    d = cli_env["dir"]
    key = f"file:{cli_env['agency.p12']}"
    assert (
        main(
            [
                "sign",
                "pdf",
                str(d / "in.pdf"),
                str(d / "o.pdf"),
                "--key",
                key,
                "--as",
                "person",
                "--box",
                "1,2,3",
            ]
        )
        == 2
    )
    assert (
        main(["sign", "pdf", str(d / "nope.pdf"), str(d / "o.pdf"), "--key", key, "--as", "copy"])
        == 2
    )
    assert "pdf.box" in capsys.readouterr().err


def test_cli_on_the_official_sample_package(
    shared_samples: Path | None, cli_env: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The SDK sample: a placeholder envelope signature and a .doc attachment — nothing to
    vouch for the package (the self-made equivalent is the ``plain.edxml`` case above)."""
    if shared_samples is None:
        pytest.skip("../shared/edxml-samples is absent")
    sample = shared_samples / "dc0bdef0-c7a3-4aaf-b717-777303442973.edxml"
    capsys.readouterr()
    assert main(["--lang", "en", *_verify_args(cli_env, sample), "--json"]) == 3
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["envelope"]["status"] == "unverifiable"
    assert (entry["verdict"], entry["subindication"]) == ("indeterminate", "NO_SIGNATURE")
    assert entry["pdfs"] == []
    assert entry["signed"] is False
