"""``lienthong edxml …`` through :func:`hub.entrypoints.cli.main`, with real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.edxml.reader import read
from hub.entrypoints.cli import main
from tests.factories import make_edoc, make_pdf_bytes, make_status

BAD_ATTACHMENT = b"[ELIDED]"


@pytest.fixture
def edoc_file(tmp_path: Path) -> Path:
    path = tmp_path / "vanban.edxml"
    path.write_bytes(make_edoc())
    return path


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    data = make_edoc()
    start = data.index(b"<ContentTransferEncoded>") + len(b"<ContentTransferEncoded>")
    end = data.index(b"</ContentTransferEncoded>")
    path = tmp_path / "hong.edxml"
    path.write_bytes(data[:start] + BAD_ATTACHMENT + data[end:])
    return path


def test_inspect_text_vi_and_json(edoc_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["edxml", "inspect", str(edoc_file)]) == 0
    out = capsys.readouterr().out
    assert "Nơi gửi: organ_id=000.00.00.G22" in out
    assert "Trích yếu: V/v kết nối" in out
    assert "Người ký: competence=KT. BỘ TRƯỞNG, position=Thứ trưởng" in out
    assert "attachment_name: 7816-VPCP-TTDT.pdf" in out
    assert "decoded: có / yes" in out
    assert main(["--lang", "en", "edxml", "inspect", str(edoc_file)]) == 0
    out = capsys.readouterr().out
    assert "Subject: V/v" in out
    assert "Hops:" in out
    assert main(["edxml", "inspect", "--json", str(edoc_file)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "edoc"
    assert info["header"]["to"][0]["organ_id"] == "000.00.00.H41"
    assert info["business"] == {"type": 0, "name": "new"}
    assert info["trace"]["bussiness"]["document_id"] == "000.00.00.G22,2024/03/15,7816/VPCP-TTĐT"
    assert info["trace"]["bussiness"]["reason"] == "Văn bản điện tử mới"
    assert info["attachments"][0]["content_id"] == "1"
    assert info["attachments"][0]["decoded"] is True
    assert info["signature"] == {"present": False}


def test_inspect_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "status.edxml"
    path.write_bytes(make_status(status_code="03"))
    assert main(["edxml", "inspect", "--json", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "status"
    assert info["header"]["status_code"] == "03"
    assert info["header"]["response_for"]["organ_id"] == "000.00.00.G22"
    assert info["header"]["staff_info"]["staff"] == "Trần Thị Bích"


def test_inspect_shows_an_undecodable_attachment(
    bad_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--lang", "en", "edxml", "inspect", str(bad_file)]) == 0
    out = capsys.readouterr().out
    assert "decoded: không / no" in out
    assert "edxml.attachment.base64" in out
    assert "message_en=attachment ContentId 1: ContentTransferEncoded is not valid base64" in out
    assert "message_vi" not in out


def test_validate_exit_codes_and_messages(
    edoc_file: Path, bad_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["edxml", "validate", str(edoc_file)]) == 0
    assert "hợp lệ (0 lỗi, 0 cảnh báo)" in capsys.readouterr().out
    assert main(["edxml", "validate", str(edoc_file), str(bad_file)]) == 1
    out = capsys.readouterr().out
    assert f"{bad_file}: KHÔNG hợp lệ (1 lỗi" in out
    assert "[lỗi] attachment.undecodable" in out
    assert "không phải base64" in out
    assert main(["--lang", "en", "edxml", "validate", str(bad_file)]) == 1
    assert "[error] attachment.undecodable" in capsys.readouterr().out


def test_validate_json(edoc_file: Path, bad_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["edxml", "validate", "--json", str(edoc_file), str(bad_file)]) == 1
    result = json.loads(capsys.readouterr().out)
    assert [r["ok"] for r in result] == [True, False]
    assert result[1]["file"] == str(bad_file)
    assert result[1]["problems"][0]["code"] == "attachment.undecodable"
    assert result[1]["problems"][0]["severity"] == "error"


def test_validate_with_sample_registry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gui-huyen.edxml"
    path.write_bytes(make_edoc(to=["000.00.21.H41"]))
    args = ["edxml", "validate", "--sample-registry", "--on", "2025-08-01", str(path)]
    assert main(args) == 0  # warnings only
    out = capsys.readouterr().out
    assert "agency.closed" in out
    assert "000.00.65.H41" in out


def test_validate_unreadable_file_is_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["edxml", "validate", str(tmp_path / "none.edxml")]) == 2
    assert "cli.unreadable" in capsys.readouterr().err


def test_not_xml_is_invalid_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.edxml"
    path.write_bytes(b"hello")
    assert main(["edxml", "validate", str(path)]) == 1
    assert "xml.malformed" in capsys.readouterr().out


def test_build_from_yaml_then_read_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cv.pdf").write_bytes(make_pdf_bytes("cv"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "from: {organ_id: 000.00.00.H41, organ_name: Ủy ban nhân dân tỉnh Nghệ An}\n"
        "to: [{organ_id: 000.00.02.H41, organ_name: Sở Nội vụ}]\n"
        'code: {number: "125", notation: UBND-VX}\n'
        "promulgation: {place: Nghệ An, date: 2025-08-01}\n"
        "document_type: {type: 1, name: Công văn}\n"
        "subject: V/v triển khai liên thông văn bản\n"
        "signer: {competence: TM. ỦY BAN NHÂN DÂN, position: Chủ tịch, full_name: Nguyễn Văn A}\n"
        "timestamp: 2025-08-01T08:00:00\n"
        "attachments: [{file: cv.pdf, name: 125-UBND-VX.pdf}]\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.edxml"
    assert main(["edxml", "build", str(spec), "-o", str(out)]) == 0
    assert "đã ghi" in capsys.readouterr().out
    pkg = read(out.read_bytes())
    assert pkg.sender == "000.00.00.H41"
    assert pkg.document_id == "000.00.00.H41,2025/08/01,125/UBND-VX"  # type: ignore[union-attr]
    assert pkg.attachments[0].attachment_name == "125-UBND-VX.pdf"  # type: ignore[union-attr]


def test_build_status_from_json_and_incomplete_specs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "st.json"
    spec.write_text(
        json.dumps(
            {
                "kind": "status",
                "from": "000.00.02.H41",
                "status_code": 3,
                "response_for": {"organ_id": "000.00.00.H41", "document_id": "x,2025/08/01,1/A"},
                "timestamp": "2025-08-01 09:00:00",
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "st.edxml"
    assert main(["edxml", "build", str(spec), "-o", str(out)]) == 0
    status = read(out.read_bytes())
    assert status.header.status_code == "03"  # type: ignore[union-attr]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"from": "000.00.00.H41"}), encoding="utf-8")
    assert main(["edxml", "build", str(bad), "-o", str(out)]) == 2
    assert "cli.spec" in capsys.readouterr().err
    missing = tmp_path / "m.yaml"
    missing.write_text(
        "from: 000.00.00.H41\nto: [000.00.00.G22]\nsubject: s\nattachments: [{file: none.pdf}]\n",
        encoding="utf-8",
    )
    assert main(["edxml", "build", str(missing), "-o", str(out)]) == 2


def test_build_of_an_incomplete_document_reports_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No number, signer or attachment: QCVN 102 asks for them, the meaning is intact — built,
    # valid, and every omission reported as a warning.
    spec = tmp_path / "thin.yaml"
    spec.write_text("from: 000.00.00.H41\nto: [000.00.00.G22]\nsubject: s\n", encoding="utf-8")
    out = tmp_path / "thin.edxml"
    assert main(["edxml", "build", str(spec), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "[warning] profile.code_number_missing" in printed
    assert "[warning] profile.signer_name_missing" in printed
    assert "[warning] profile.attachments_missing" in printed
    # A status that names no agency to notify goes nowhere: an error, exit 1.
    spec.write_text(
        "kind: status\nfrom: 000.00.00.H41\nstatus_code: '03'\n"
        "response_for: {document_id: 'x,2024/03/15,1/A'}\n",
        encoding="utf-8",
    )
    assert main(["edxml", "build", str(spec), "-o", str(out)]) == 1
    assert "[error] edxml.required" in capsys.readouterr().out
    assert out.is_file()


def test_validate_library_package_without_signer_info_is_valid_with_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hub.edxml.model import PromulgationInfo

    # What the official EdXML102 builder writes when SignerInfo, the place of issue and
    # OtherInfo are left unset: the elements are absent.
    path = tmp_path / "khong-nguoi-ky.edxml"
    path.write_bytes(
        make_edoc(signer_info=None, other_info=None, promulgation_info=PromulgationInfo(None, None))
    )
    assert main(["--lang", "en", "edxml", "validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: valid (0 error(s), 3 warning(s))" in out
    assert (
        "[warning] profile.signer_info_missing /edXML/edXMLEnvelope/edXMLHeader/MessageHeader/"
        "SignerInfo: no SignerInfo" in out
    )
    assert main(["edxml", "validate", "--json", str(path)]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert (result["ok"], result["errors"], result["warnings"]) == (True, 0, 3)
    assert {p["code"] for p in result["problems"]} == {
        "profile.signer_info_missing",
        "profile.issue_place_missing",
        "profile.issue_date_missing",
    }
    assert all(p["severity"] == "warning" and p["path"] for p in result["problems"])


def test_extract_writes_attachments_inside_dir_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hub.edxml.writer import OutgoingAttachment

    pdf = make_pdf_bytes("a")
    atts = [
        OutgoingAttachment("1", "../../etc/evil.pdf", "application/pdf", pdf),
        OutgoingAttachment("2", "evil.pdf", "application/pdf", b"raw bytes", zip=False),
    ]
    src = tmp_path / "pkg.edxml"
    src.write_bytes(make_edoc(attachments=atts))
    dest = tmp_path / "out"
    assert main(["edxml", "extract", str(src), "-o", str(dest)]) == 0
    files = sorted(p.name for p in dest.iterdir())
    assert files == ["evil-2.pdf", "evil.pdf"]
    assert (dest / "evil.pdf").read_bytes() == pdf
    assert (dest / "evil-2.pdf").read_bytes() == b"raw bytes"
    assert "sha256=" in capsys.readouterr().out
    assert not (tmp_path.parent / "etc").exists()


def test_extract_undecodable_attachment_fails_clearly(
    bad_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["edxml", "extract", str(bad_file), "-o", str(tmp_path / "o")]) == 2
    assert "edxml.attachment" in capsys.readouterr().err
