"""``lienthong sign …`` and ``lienthong verify …``: sign PDFs and envelopes, verify signatures.

::

    lienthong sign pdf IN OUT --key REF --as person|agency|attachment|copy
                       [--image PNG] [--page N] [--box x1,y1,x2,y2] [--tsa URL]
                       [--text T] [--number N] [--agency-name A] [--copy-form F]
                       [--font TTF | --standard-font]
    lienthong sign envelope IN OUT --key REF
    lienthong verify FILE… [--json] [--trust PEM]… [--intermediates PEM]… [--crl FILE]…
                           [--tsa-trust PEM]… [--offline] [--no-revocation]

Key references are ``file:PATH`` (PKCS#12 or PEM) or ``pkcs11:token=…;object=…``. The PIN or
password comes from ``LIENTHONG_KEY_PIN`` or an interactive prompt — never from the command line,
where it would land in shell history and ``ps`` output.

``verify`` takes PDFs and edXML packages (every PDF attachment inside is verified, and the
envelope signature reported). Each signature, each PDF, each envelope and each file gets one of
three verdicts (ETSI EN 319 102-1): **valid** (HỢP LỆ), **invalid** (KHÔNG HỢP LỆ: changed,
forged, revoked…) or **indeterminate** (CHƯA XÁC ĐỊNH ĐƯỢC: revocation data unreachable, no
chain to an anchor, expired without a timestamp…), with its ETSI sub-indication; ``--json``
carries them as ``"verdict"`` and ``"subindication"``. A file is invalid if any of its
signatures is, else indeterminate if any is, else valid; a file with no signature to judge is
indeterminate (``NO_SIGNATURE``); an envelope without an XML-DSig signature is not counted.

Exit status, over all files the same way: **0** valid, **1** invalid, **3** indeterminate;
**2** stays what it is for every ``lienthong`` command, a usage or input error. Messages are
Vietnamese by default, English with ``lienthong --lang en``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.errors import InvalidRequest

if TYPE_CHECKING:
    from signing.pdf_verdicts import PdfVerdict
    from signing.verdicts import EnvelopeVerdict, Outcome

_ROLES = ("person", "agency", "attachment", "copy")
#: Exit status of ``verify`` per outcome (2 is every command's usage/input error).
EXIT_VALID, EXIT_INVALID, EXIT_INDETERMINATE = 0, 1, 3
#: A PEM bundle of trust anchors used by every ``verify`` run (``--trust`` adds to it).
ANCHORS_ENV = "LIENTHONG_TRUST_ANCHORS"


def _t(args: argparse.Namespace, vi: str, en: str) -> str:
    return en if getattr(args, "lang", "vi") == "en" else vi


def register(subparsers: Any) -> None:
    """Add the ``sign`` and ``verify`` command groups to the ``lienthong`` parser."""
    sign = subparsers.add_parser("sign", help="ký số tệp PDF hoặc gói tin edXML (sign)")
    sign_sub = sign.add_subparsers(dest="sign_command", metavar="WHAT", required=True)

    pdf = sign_sub.add_parser("pdf", help="ký số PDF theo Nghị định 30 (PAdES B-B / B-T)")
    pdf.add_argument("input", type=Path, metavar="IN")
    pdf.add_argument("output", type=Path, metavar="OUT")
    pdf.add_argument("--key", required=True, help="file:PATH hoặc pkcs11:token=…;object=…")
    pdf.add_argument("--as", dest="role", choices=_ROLES, required=True, help="loại chữ ký")
    pdf.add_argument("--image", type=Path, help="ảnh chữ ký / con dấu (PNG trong suốt)")
    pdf.add_argument("--page", type=int, help="trang (từ 1; số âm đếm từ cuối)")
    pdf.add_argument("--box", help="khung x1,y1,x2,y2 (điểm PDF, gốc ở góc dưới trái)")
    pdf.add_argument("--tsa", metavar="URL", help="máy chủ dấu thời gian RFC 3161 (PAdES B-T)")
    pdf.add_argument("--text", help="dòng chữ thêm vào hình thức chữ ký")
    pdf.add_argument("--number", help="số, ký hiệu văn bản (chữ ký phụ lục)")
    pdf.add_argument("--agency-name", help="tên cơ quan (chữ ký cơ quan, bản sao)")
    pdf.add_argument("--copy-form", help="hình thức sao: SAO Y, SAO LỤC, TRÍCH SAO")
    pdf.add_argument(
        "--font", type=Path, help="phông TrueType/OpenType có chữ tiếng Việt (mặc định: tự tìm)"
    )
    pdf.add_argument(
        "--standard-font", action="store_true", help="dùng phông chuẩn Times-Roman (bỏ dấu)"
    )
    pdf.add_argument("--reason", help="lý do ký")
    pdf.add_argument("--location", help="nơi ký")
    pdf.set_defaults(handler=_sign_pdf)

    env = sign_sub.add_parser("envelope", help="ký phong bì gói tin edXML (XML-DSig)")
    env.add_argument("input", type=Path, metavar="IN")
    env.add_argument("output", type=Path, metavar="OUT")
    env.add_argument("--key", required=True, help="file:PATH hoặc pkcs11:token=…;object=…")
    env.set_defaults(handler=_sign_envelope)

    verify = subparsers.add_parser("verify", help="kiểm tra chữ ký số trên PDF / gói tin edXML")
    verify.add_argument("files", type=Path, nargs="+", metavar="FILE")
    verify.add_argument("--json", action="store_true", help="kết quả dạng JSON")
    verify.add_argument(
        "--trust",
        type=Path,
        action="append",
        default=[],
        metavar="PEM",
        help="chứng thư gốc tin cậy (lặp lại được)",
    )
    verify.add_argument(
        "--intermediates",
        type=Path,
        action="append",
        default=[],
        metavar="PEM",
        help="chứng thư trung gian",
    )
    verify.add_argument(
        "--tsa-trust",
        type=Path,
        action="append",
        default=[],
        metavar="PEM",
        help="chứng thư gốc của máy chủ dấu thời gian",
    )
    verify.add_argument("--crl", type=Path, action="append", default=[], help="tệp CRL")
    verify.add_argument("--offline", action="store_true", help="không tải CRL/OCSP qua mạng")
    verify.add_argument(
        "--no-revocation", action="store_true", help="không kiểm tra thu hồi chứng thư"
    )
    verify.set_defaults(handler=_verify)


# -- sign ------------------------------------------------------------------------------------


def _read(path: Path, args: argparse.Namespace) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(
            f"cannot read {path}: {exc.strerror}",
            message_vi=f"Không đọc được {path}: {exc.strerror}",
            code="cli.read",
        ) from exc


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise InvalidRequest(
            f"cannot write {path}: {exc.strerror}",
            message_vi=f"Không ghi được {path}: {exc.strerror}",
            code="cli.write",
        ) from exc


def _load_key(ref: str) -> Any:
    from signing.keys import load_key

    # PIN: LIENTHONG_KEY_PIN, else an interactive prompt (only asked for when needed).
    return load_key(ref, prompt=lambda: getpass.getpass("PIN / mật khẩu: "))


def _sign_pdf(args: argparse.Namespace) -> int:
    from signing.pdf_layout import LayoutStyle, find_serif_font
    from signing.pdf_sign import (
        Box,
        PdfSigningService,
        SignatureRole,
        SignRequest,
        http_timestamper,
    )

    data = _read(args.input, args)
    image = _read(args.image, args) if args.image else None
    key = _load_key(args.key)
    try:
        # Vietnamese letters need an embedded font; without one, Times-Roman with folding.
        font = None if args.standard_font else (args.font or find_serif_font())
        service = PdfSigningService(
            key.pyhanko_signer(),
            timestamper=http_timestamper(args.tsa) if args.tsa else None,
            style=LayoutStyle(font_file=font),
        )
        request = SignRequest(
            role=SignatureRole(args.role),
            page=args.page,
            box=Box.parse(args.box) if args.box else None,
            image=image,
            agency_name=args.agency_name,
            number=args.number,
            copy_form=args.copy_form,
            text=args.text,
            reason=args.reason,
            location=args.location,
        )
        signed = service.sign(data, request)
    finally:
        key.close()
    _write(args.output, signed)
    level = "PAdES-B-T" if args.tsa else "PAdES-B-B"
    print(_t(args, f"Đã ký ({level}): {args.output}", f"signed ({level}): {args.output}"))
    return 0


def _sign_envelope(args: argparse.Namespace) -> int:
    from signing.xmldsig import sign_envelope

    data = _read(args.input, args)
    key = _load_key(args.key)
    try:
        signed = sign_envelope(data, key)
    finally:
        key.close()
    _write(args.output, signed)
    print(_t(args, f"Đã ký phong bì: {args.output}", f"envelope signed: {args.output}"))
    return 0


# -- verify ----------------------------------------------------------------------------------


def _pem_certs(paths: list[Path], args: argparse.Namespace) -> bytes:
    return b"".join(_read(p, args) for p in paths)


def _verify(args: argparse.Namespace) -> int:
    from hub.ports import Indication
    from signing.pdf_verify import PdfVerifier
    from signing.trust import TrustEvaluator, TrustPolicy, TrustStore, load_pem_bundle
    from signing.verdicts import combine
    from signing.xmldsig import EnvelopePolicy, PolicySet, SignatureVerifier

    anchor_files = list(args.trust)
    if os.environ.get(ANCHORS_ENV):
        anchor_files.insert(0, Path(os.environ[ANCHORS_ENV]))
    if not anchor_files:
        raise InvalidRequest(
            f"no trust anchors: give --trust PEM or set {ANCHORS_ENV}",
            message_vi=f"Chưa có chứng thư gốc tin cậy: dùng --trust PEM hoặc đặt {ANCHORS_ENV}",
            code="cli.no_anchor",
        )
    store = TrustStore.from_pem(
        _pem_certs(anchor_files, args), _pem_certs(args.intermediates, args)
    )
    policy = TrustPolicy(
        check_revocation=not args.no_revocation,
        require_revocation=not args.no_revocation,
        allow_network=not args.offline,
        crl_files=tuple(args.crl),
    )
    tsa_anchors = load_pem_bundle(_pem_certs(args.tsa_trust, args)) if args.tsa_trust else []
    verifier = PdfVerifier(TrustEvaluator(store, policy), timestamp_anchors=tsa_anchors)
    envelopes = SignatureVerifier(store, PolicySet(default=EnvelopePolicy(trust=policy)))
    report: list[dict[str, Any]] = []
    file_outcomes: list[Outcome] = []
    for path in args.files:
        data = _read(path, args)
        entry: dict[str, Any] = {"file": str(path)}
        if data.lstrip()[:5] == b"%PDF-" or b"%PDF-" in data[:1024]:
            pdfs: tuple[PdfVerdict, ...] = (verifier.verify(data, name=path.name),)
            envelope = None
        else:
            envelope = envelopes.verify_envelope(data, sender="")
            pdfs = verifier.verify_package(data)
            entry["envelope"] = envelope.to_dict()
        # The verifiers' outcomes, aggregated: an envelope without XML-DSig is not a signature,
        # and a file with nothing that could be judged is not "valid" (NO_SIGNATURE).
        judged = [v.outcome for v in pdfs]
        if envelope is not None and envelope.xmldsig_present:
            judged.insert(0, envelope.outcome)
        outcome = combine(judged)
        file_outcomes.append(outcome)
        entry.update(outcome.to_dict())
        entry["reason"] = outcome.reason(args.lang)
        entry["pdfs"] = [v.to_dict(args.lang) for v in pdfs]
        entry["signed"] = bool(pdfs) or (envelope is not None and envelope.bottom_line)
        report.append(entry)
        if not args.json:
            _print_file(args, path, envelope, pdfs, outcome)
    overall = combine(file_outcomes)
    if args.json:
        json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        print(_t(args, "KẾT LUẬN: ", "RESULT: ") + overall.word(args.lang))
    return {
        Indication.VALID: EXIT_VALID,
        Indication.INVALID: EXIT_INVALID,
        Indication.INDETERMINATE: EXIT_INDETERMINATE,
    }[overall.indication]


def _yes(args: argparse.Namespace, flag: bool | None) -> str:
    if flag is None:
        return "-"
    return _t(args, "có", "yes") if flag else _t(args, "KHÔNG", "NO")


def _print_file(
    args: argparse.Namespace,
    path: Path,
    envelope: EnvelopeVerdict | None,
    pdfs: tuple[PdfVerdict, ...],
    outcome: Outcome,
) -> None:
    print(f"== {path}")
    if envelope is not None:
        why = envelope.problem(args.lang)
        word = f" [{_word(args, envelope.outcome)}]" if envelope.xmldsig_present else ""
        print(
            _t(args, "  Phong bì (XML-DSig): ", "  envelope (XML-DSig): ")
            + envelope.status.value
            + word
            + (f" — {why}" if why else "")
        )
        if not pdfs:
            print(_t(args, "  (không có tệp PDF đính kèm)", "  (no PDF attachment)"))
            if not envelope.bottom_line:
                print(
                    _t(
                        args,
                        "  ! Không có chữ ký số nào kiểm tra được",
                        "  ! no signature could be verified",
                    )
                )
    headers = (
        _t(args, "#", "#"),
        _t(args, "Trường", "Field"),
        _t(args, "Người ký", "Signer"),
        _t(args, "Loại", "Class"),
        _t(args, "Thời gian ký", "Signing time"),
        _t(args, "Dấu thời gian", "Timestamp"),
        _t(args, "Toàn vẹn", "Intact"),
        _t(args, "Hợp lệ", "Valid"),
        _t(args, "Tin cậy", "Trusted"),
        _t(args, "Sửa sau ký", "Changed"),
        _t(args, "Kết quả", "Result"),
    )
    for pdf in pdfs:
        print(f"  PDF {pdf.name or ''} sha256={pdf.sha256[:16]}… ({pdf.kind.value})")
        for problem in pdf.problems:
            print(f"    ! {problem.message(args.lang)} [{problem.code}]")
        if not pdf.signatures:
            continue
        rows = [headers]
        for i, s in enumerate(pdf.signatures, start=1):
            trust = s.trust.status.value if s.trust is not None else "-"
            rows.append(
                (
                    str(i),
                    s.field_name,
                    (s.signer.common_name or s.signer.subject) if s.signer else "-",
                    s.signer_class.value,
                    s.signing_time.isoformat(timespec="seconds") if s.signing_time else "-",
                    s.timestamp.isoformat(timespec="seconds") if s.timestamp else "-",
                    _yes(args, s.intact),
                    _yes(args, s.valid),
                    _yes(args, s.trusted) + ("" if s.trusted else f" ({trust})"),
                    _t(args, "CÓ", "YES") if s.modified_after_signing else _t(args, "không", "no"),
                    _word(args, s.outcome),
                )
            )
        widths = [max(len(r[c]) for r in rows) for c in range(len(headers))]
        for row in rows:
            print("    " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        for i, s in enumerate(pdf.signatures, start=1):
            for problem in s.problems:
                print(f"    #{i}: {problem.message(args.lang)} [{problem.code}]")
            if s.trust is not None and not s.trust.ok and s.trust.detail:
                print(f"    #{i}: {s.trust.detail}")
        for warning in pdf.nd30_warnings:
            print(f"    ⚠ {warning.message(args.lang)} [{warning.code}]")
    reason = outcome.reason(args.lang)
    print(
        _t(args, "  => Kết quả: ", "  => verdict: ")
        + _word(args, outcome)
        + (f" — {reason}" if reason and not outcome.valid else "")
    )


def _word(args: argparse.Namespace, outcome: Outcome) -> str:
    """The outcome word, with the sub-indication when not valid."""
    sub = f" ({outcome.subindication.value})" if outcome.subindication else ""
    return outcome.word(args.lang) + sub
