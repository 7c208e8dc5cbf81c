"""``lienthong edxml …``: look into, check, build and unpack edXML packages from the shell.

Commands (messages in Vietnamese, English with the global ``--lang en``):

``inspect FILE [--json]``
    Everything the reader reads from one package (:mod:`hub.edxml.inspection`): every header
    field, ``ResponseFor``, the trace and business action (``ReplacementInfoList``,
    ``ReceiverList``, ``StaffInfo``), the Manifest, each attachment as decoded (size, SHA-256,
    ZIP entries, or why it does not decode) and the envelope signature's summary.
``validate FILE… [--json] [--decode] [--registry PATH] [--on DATE]``
    The hub's profile check (:mod:`hub.edxml.profile`) on each file; exit 0 when every file is
    valid (warnings allowed), 1 when any has an error-severity problem.
``build SPEC -o OUT``
    A package from a YAML or JSON description (see :func:`build`)
    and attachment files, written by the project's writer, then checked; exit 1 if the result
    breaks the profile.
``extract FILE -o DIR``
    Attachments to files (streamed; ZIP payloads unpacked, the user-visible name is
    ``AttachmentName``, §4); never writes outside ``DIR``.

Exit status follows :mod:`hub.entrypoints.cli`: 0 success, 1 a check failed, 2 usage or input
error (an unreadable file is reported as a :class:`~hub.errors.HubError` with code).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from hub.errors import InvalidRequest


def register(subparsers: Any) -> None:
    """Add the ``edxml`` command group to the ``lienthong`` parser."""
    group = subparsers.add_parser("edxml", help="edXML packages: inspect, validate, build, extract")
    sub = group.add_subparsers(dest="edxml_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("inspect", help="readable summary of one package")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=_inspect)

    p = sub.add_parser("validate", help="check packages against the hub's edXML profile")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--decode", action="store_true", help="fully decode attachments and test ZIP payloads"
    )
    p.add_argument("--registry", type=Path, help="agency registry file (JSON/CSV) to check codes")
    p.add_argument("--sample-registry", action="store_true", help="use the shipped sample")
    p.add_argument("--on", type=dt.date.fromisoformat, help="judge codes on DATE (yyyy-mm-dd)")
    p.set_defaults(handler=_validate)

    p = sub.add_parser("build", help="write a package from a YAML/JSON description")
    p.add_argument("spec", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.set_defaults(handler=_build)

    p = sub.add_parser("extract", help="write the attachments of a package to a folder")
    p.add_argument("file", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    p.set_defaults(handler=_extract)


def _t(args: argparse.Namespace, vi: str, en: str) -> str:
    return en if getattr(args, "lang", "vi") == "en" else vi


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(
            f"cannot read {path}: {exc.strerror or exc}",
            message_vi=f"không đọc được {path}: {exc.strerror or exc}",
            code="cli.unreadable",
        ) from exc


# --------------------------------------------------------------------------- inspect


#: Labels of the keys ``inspect`` prints (vi, en); other keys print under their own name.
_LABELS = {
    "kind": ("Loại gói tin", "Kind"),
    "business": ("Nghiệp vụ", "Business action"),
    "header": ("Tiêu đề (MessageHeader)", "MessageHeader"),
    "from": ("Nơi gửi", "From"),
    "to": ("Nơi nhận", "To"),
    "document_id": ("Mã văn bản", "DocumentId"),
    "code": ("Số, ký hiệu", "Number/symbol"),
    "promulgation_info": ("Ban hành", "Promulgation"),
    "document_type": ("Loại văn bản", "Document type"),
    "subject": ("Trích yếu", "Subject"),
    "content": ("Nội dung", "Content"),
    "signer_info": ("Người ký", "Signer"),
    "due_date": ("Hạn xử lý", "Due date"),
    "to_places": ("Nơi nhận (in trên văn bản)", "To places"),
    "other_info": ("Thông tin khác", "Other info"),
    "response_for": ("Phản hồi cho", "Response for"),
    "steering_type": ("Loại chỉ đạo", "Steering type"),
    "staff_info": ("Cán bộ", "Staff"),
    "status_code": ("Mã trạng thái", "Status code"),
    "description": ("Mô tả", "Description"),
    "timestamp": ("Thời điểm", "Timestamp"),
    "trace": ("Hành trình (TraceHeaderList)", "Trace (TraceHeaderList)"),
    "trace_headers": ("Các chặng", "Hops"),
    "bussiness": ("Nghiệp vụ (Bussiness)", "Bussiness"),
    "replacements": ("Thay thế (ReplacementInfoList)", "Replacements (ReplacementInfoList)"),
    "receivers": ("Nơi nhận mới (ReceiverList)", "Receivers (ReceiverList)"),
    "manifest": ("Danh mục (Manifest)", "Manifest"),
    "attachments": ("Tệp đính kèm", "Attachments"),
    "files": ("Tệp bên trong", "Files inside"),
    "signature": ("Chữ ký gói tin", "Envelope signature"),
    "certificate": ("Chứng thư", "Certificate"),
}


def _inspect(args: argparse.Namespace) -> int:
    from hub.edxml.inspection import inspect_package

    info = inspect_package(_read(args.file))
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    lang = 1 if args.lang == "en" else 0
    header = info.pop("header", None)
    for key, value in ({"kind": info.pop("kind")} | (header or {}) | info).items():
        for line in _render(key, value, lang, ""):
            print(line)
    return 0


def _render(key: str, value: Any, lang: int, indent: str) -> list[str]:
    """Lines for one key: a flat value on the label's line, nested ones indented below."""
    if value in (None, "", [], {}):
        return []
    if isinstance(value, dict) and "message_en" in value:  # a problem: the reader's language
        value = {k: v for k, v in value.items() if k != ("message_en", "message_vi")[lang]}
    label = _LABELS.get(key, (key, key))[lang]
    if _flat(value):
        return [f"{indent}{label}: {_line(value)}"]
    lines = [f"{indent}{label}:"]
    if isinstance(value, dict):
        for k, v in value.items():
            lines += _render(k, v, lang, indent + "  ")
        return lines
    for item in value:
        if _flat(item):
            lines.append(f"{indent}  - {_line(item)}")
        else:
            sub = [ln for k, v in item.items() for ln in _render(k, v, lang, indent + "    ")]
            lines.append(f"{indent}  - {sub[0].strip()}" if sub else f"{indent}  -")
            lines += sub[1:]
    return lines


def _flat(value: Any) -> bool:
    """A scalar, a date (``raw`` + parsed), a list of scalars, or a dict of those."""
    if isinstance(value, dict):
        return "raw" in value or all(_scalar(v) for v in value.values())
    if isinstance(value, list):
        return all(_scalar(v) for v in value)
    return True


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list) or (isinstance(value, dict) and "raw" in value)


def _line(value: Any) -> str:
    if isinstance(value, dict):
        if "raw" in value:
            return str(value["raw"])
        return ", ".join(f"{k}={_line(v)}" for k, v in value.items() if v not in (None, ""))
    if isinstance(value, list):
        return "; ".join(_line(v) for v in value)
    if isinstance(value, bool):
        return "có / yes" if value else "không / no"
    if value == "":
        return '""'  # e.g. a signature Reference URI="" (the whole document)
    return str(value)


# --------------------------------------------------------------------------- validate


def _validate(args: argparse.Namespace) -> int:
    from hub.edxml.profile import ProfileOptions, validate

    registry = None
    if args.registry is not None:
        from hub.agency.loading import load_registry

        registry = load_registry(args.registry)
    elif args.sample_registry:
        from hub.agency.loading import load_sample_registry

        registry = load_sample_registry()
    options = ProfileOptions(decode_attachments=args.decode, registry=registry, on=args.on)
    results = []
    all_ok = True
    for path in args.files:
        report = validate(_read(path), options)
        all_ok = all_ok and report.ok
        results.append((path, report))
    if args.json:
        out = [{"file": str(p), **r.to_dict(args.lang)} for p, r in results]
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0 if all_ok else 1
    for path, report in results:
        n_err, n_warn = len(report.errors), len(report.warnings)
        verdict = _t(args, "hợp lệ", "valid") if report.ok else _t(args, "KHÔNG hợp lệ", "INVALID")
        counts = _t(
            args, f"{n_err} lỗi, {n_warn} cảnh báo", f"{n_err} error(s), {n_warn} warning(s)"
        )
        print(f"{path}: {verdict} ({counts})")
        for p in report.problems:
            sev = _t(args, "lỗi", "error") if p.is_error else _t(args, "cảnh báo", "warning")
            where = f" {p.path}" if p.path else ""
            print(f"  [{sev}] {p.code}{where}: {p.message(args.lang)}")
    return 0 if all_ok else 1


# --------------------------------------------------------------------------- build


def _build(args: argparse.Namespace) -> int:
    from hub.edxml.profile import validate

    spec = load_spec(_read(args.spec), args.spec)
    data = build(spec, base=args.spec.parent)
    try:
        args.output.write_bytes(data)
    except OSError as exc:
        raise InvalidRequest(
            f"cannot write {args.output}: {exc.strerror or exc}",
            message_vi=f"không ghi được {args.output}: {exc.strerror or exc}",
            code="cli.unwritable",
        ) from exc
    report = validate(data)
    print(_t(args, f"đã ghi {args.output} ({len(data)} byte)", f"wrote {args.output} "
             f"({len(data)} bytes)"))  # fmt: skip
    for p in report.problems:
        print(f"  [{p.severity}] {p.code} {p.path or ''}: {p.message(args.lang)}")
    return 0 if report.ok else 1


# --------------------------------------------------------------------------- extract


def _safe_name(name: str, fallback: str) -> str:
    # The name comes from the package: never let it leave DIR (no separators, no "..").
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    base = "".join(c for c in base if c >= " " and c not in ':*?"<>|')
    return base or fallback


def _extract(args: argparse.Namespace) -> int:
    from hub.edxml.attachments import iter_attachments

    if not args.file.is_file():
        _read(args.file)  # raises the clear "cannot read" error before DIR is created
    out_dir: Path = args.output
    out_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    count = 0
    for item in iter_attachments(args.file):
        with item:
            single = not item.was_zip or len(item.zip_entry_names) <= 1
            wanted = item.attachment_name if single else item.entry_name
            name = _safe_name(wanted or "", f"attachment-{item.content_id or count + 1}")
            stem, dot, ext = name.rpartition(".")
            candidate, n = name, 1
            while candidate in used or (out_dir / candidate).exists():
                n += 1
                candidate = f"{stem}-{n}{dot}{ext}" if dot else f"{name}-{n}"
            used.add(candidate)
            with (out_dir / candidate).open("wb") as fh:
                item.copy_to(fh)
            count += 1
            print(f"{out_dir / candidate}  {item.size} B  sha256={item.sha256}")
    print(_t(args, f"đã trích {count} tệp", f"extracted {count} file(s)"), file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- spec


def load_spec(raw: bytes, path: Path) -> dict[str, Any]:
    """Parse a build description: JSON for ``.json``, YAML otherwise (safe loader only)."""
    try:
        if path.suffix.lower() == ".json":
            spec = json.loads(raw.decode("utf-8-sig"))
        else:
            import yaml

            spec = yaml.safe_load(raw.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _spec_error(f"cannot parse {path}: {exc}", f"không đọc được {path}: {exc}") from exc
    except Exception as exc:  # yaml.YAMLError, imported lazily
        raise _spec_error(f"cannot parse {path}: {exc}", f"không đọc được {path}: {exc}") from exc
    if not isinstance(spec, dict):
        raise _spec_error("the description must be a mapping", "mô tả phải là một ánh xạ (mapping)")
    return spec


def _spec_error(en: str, vi: str) -> InvalidRequest:
    return InvalidRequest(en, message_vi=vi, code="cli.spec")


def _need(spec: dict[str, Any], key: str) -> Any:
    if spec.get(key) in (None, "", []):
        raise _spec_error(f"the description needs '{key}'", f"mô tả thiếu trường '{key}'")
    return spec[key]


def _when(value: Any, key: str) -> dt.datetime:
    from hub.edxml.model import VN_TZ

    if value is None:
        return dt.datetime.now(VN_TZ).replace(microsecond=0)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=VN_TZ)
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("/", "-"))
    except ValueError as exc:
        raise _spec_error(f"'{key}': {value!r} is not a date-time", f"'{key}': {value!r} không "
                          "phải ngày giờ") from exc  # fmt: skip
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=VN_TZ)


def _day(value: Any, key: str) -> Any:
    from hub.edxml.reader import format_date, parse_date

    if value is None:
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return parse_date(format_date(value))
    return parse_date(_when(value, key).strftime("%Y/%m/%d"))


def build(spec: dict[str, Any], *, base: Path) -> bytes:
    """Write the package a description asks for; attachment paths are relative to ``base``.

    Shape (YAML or JSON)::

        kind: edoc                      # or: status
        from: {organ_id: 000.00.00.G22, organ_name: Văn phòng Chính phủ}   # or just the code
        to: [000.00.00.H41, {organ_id: 000.00.00.H14, organ_name: UBND tỉnh Cao Bằng}]
        code: {number: "7816", notation: VPCP-TTĐT}
        promulgation: {place: Hà Nội, date: 2024-03-15}
        document_type: {type: 1, name: Công văn}
        subject: V/v …
        signer: {competence: KT. BỘ TRƯỞNG, position: Thứ trưởng, full_name: Nguyễn Văn An}
        business: {type: 0, reason: …, document_id: …}
        timestamp: 2024-03-15T09:30:00   # first TraceHeader (default: now, Vietnam time)
        attachments: [{file: cv.pdf, content_type: application/pdf, name: 7816.pdf, zip: true}]
        # status: status_code, description, response_for: {organ_id, code, document_id,
        #         promulgation_date}, staff: {department, staff, email, mobile}, timestamp
    """
    from hub.edxml import model as m
    from hub.edxml.reader import format_timestamp, parse_timestamp
    from hub.edxml.writer import OutgoingAttachment, write_edoc, write_status

    def org(value: Any) -> m.Organization:
        if isinstance(value, str):
            return m.Organization(organ_id=value)
        if not isinstance(value, dict) or not value.get("organ_id"):
            raise _spec_error("an agency needs 'organ_id'", "cơ quan thiếu 'organ_id'")
        return m.Organization(
            organ_id=str(value["organ_id"]),
            organ_name=value.get("organ_name"),
            email=value.get("email"),
        )

    def staff(value: Any) -> m.StaffInfo | None:
        if not value:
            return None
        return m.StaffInfo(**{k: value.get(k) for k in ("department", "staff", "email", "mobile")})

    sender = org(_need(spec, "from"))
    when = _when(spec.get("timestamp"), "timestamp")
    stamp = parse_timestamp(format_timestamp(when))
    assert stamp is not None  # parse_timestamp returns None only for None input
    if spec.get("kind", "edoc") == "status":
        rf = _need(spec, "response_for")
        status = m.StatusPackage(
            header=m.StatusHeader(
                from_=sender,
                response_for=m.ResponseFor(
                    organ_id=rf.get("organ_id"),
                    code=rf.get("code"),
                    promulgation_date=_day(rf.get("promulgation_date"), "promulgation_date"),
                    document_id=rf.get("document_id"),
                ),
                staff_info=staff(spec.get("staff")),
                status_code=str(_need(spec, "status_code")).zfill(2),
                description=spec.get("description"),
                timestamp=stamp,
            )
        )
        return write_status(status)
    code = spec.get("code") or {}
    prom = spec.get("promulgation") or {}
    prom_date = _day(prom.get("date") or when.date(), "promulgation.date")
    dtype = spec.get("document_type") or {}
    signer = spec.get("signer") or {}
    number, notation = str(code.get("number", "")), str(code.get("notation", ""))
    doc_id = spec.get("document_id") or f"{sender.organ_id},{prom_date.raw},{number}/{notation}"
    bus = spec.get("business") or {}
    kind = m.BussinessDocType(int(bus.get("type", 0)))
    header = m.EdocHeader(
        from_=sender,
        to=tuple(org(t) for t in _need(spec, "to")),
        document_id=doc_id,
        code=m.Code(number or None, notation or None),
        promulgation_info=m.PromulgationInfo(prom.get("place"), prom_date),
        document_type=m.DocumentType(
            dtype.get("type"), dtype.get("type_detail"), dtype.get("name"), None
        ),
        subject=_need(spec, "subject"),
        content=spec.get("content"),
        signer_info=m.SignerInfo(
            signer.get("competence"), signer.get("position"), signer.get("full_name")
        ),
        due_date=_day(spec.get("due_date"), "due_date"),
        to_places=tuple(spec.get("to_places") or ()),
    )
    bussiness = m.Bussiness(
        document_id=bus.get("document_id") or doc_id,
        doc_type=kind,
        doc_type_raw=str(int(kind)),
        reason=bus.get("reason") or ("Văn bản điện tử mới" if kind == 0 else None),
        paper=int(bus.get("paper", 0)),
        staff_info=staff(bus.get("staff")),
    )
    trace = m.TraceHeaderList((m.TraceHeader(sender.organ_id, stamp),), bussiness)
    attachments = []
    for i, a in enumerate(spec.get("attachments") or (), 1):
        file = base / str(_need(a, "file"))
        if not file.is_file():
            raise _spec_error(f"attachment file {file} not found", f"không thấy tệp {file}")
        attachments.append(
            OutgoingAttachment(
                content_id=str(a.get("content_id", i)),
                attachment_name=a.get("name") or file.name,
                content_type=a.get("content_type") or "application/pdf",
                data=file,
                description=a.get("description") or a.get("name") or file.name,
                zip=bool(a.get("zip", True)),
            )
        )
    return write_edoc(m.EdocPackage(header=header, trace=trace), attachments)
