"""Loading a :class:`~hub.agency.registry.Registry` from files: the national registry's record
shapes (JSON or CSV) and the hub's own richer JSON shape.

Contract: :func:`load_registry` reads one file, detects its shape from the record keys and
returns a finished registry, or raises :class:`~hub.errors.InternalError`
(``registry.invalid``) naming the file and the record. Shapes:

``national-pid``
    ``{id, pid, code, name, mail, oldCode}`` — the national axis' agency list: ``pid`` is the
    parent's ``id`` (0 or empty for a top-level body), ``oldCode`` a former code.
``national-code102``
    ``{id, code, name, mail, code102}`` — the QĐ 20/2020 registry export: ``code`` is the QĐ 20
    form, ``code102`` the QCVN 102 form (used as the primary code when present).
``lienthong``
    ``{"format": "lienthong-registry/1", "agencies": [{code, name, code_qd20, parent, level,
    system_id, valid_from, valid_to, successor, email, former_codes}]}`` — dates ISO 8601;
    the shape of ``config/registry/sample.json``.

JSON files may hold a bare list of records or an object with the list under ``agencies`` or
``data``. CSV files are UTF-8 (a BOM is tolerated) with a header row naming the keys.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hub.agency.registry import Agency, Registry
from hub.errors import InternalError
from hub.resources import data_path

REGISTRY_FORMAT = "lienthong-registry/1"
#: The sample registry shipped in ``config/registry/``.
SAMPLE_REGISTRY = ("registry", "sample.json")


def _invalid(source: str, message_en: str, message_vi: str) -> InternalError:
    return InternalError(
        f"{source}: {message_en}",
        message_vi=f"{source}: {message_vi}",
        code="registry.invalid",
    )


def _text(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _date(record: Mapping[str, Any], key: str, source: str) -> dt.date | None:
    text = _text(record, key)
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise _invalid(
            source,
            f"{key} {text!r} is not an ISO date (yyyy-mm-dd)",
            f"{key} {text!r} không phải ngày dạng yyyy-mm-dd",
        ) from exc


def detect_shape(record: Mapping[str, Any]) -> str:
    """Name the shape of one record: ``national-pid``, ``national-code102`` or ``lienthong``."""
    keys = set(record)
    if "code102" in keys:
        return "national-code102"
    if "pid" in keys or "oldCode" in keys:
        return "national-pid"
    return "lienthong"


def agencies_from_records(records: Sequence[Mapping[str, Any]], source: str) -> list[Agency]:
    """Turn parsed records of any supported shape into :class:`Agency` values."""
    if not records:
        return []
    shape = detect_shape(records[0])
    by_id: dict[str, str] = {}
    if shape == "national-pid":
        for rec in records:
            rid, code = _text(rec, "id"), _text(rec, "code")
            if rid and code:
                by_id[rid] = code
    out: list[Agency] = []
    for index, rec in enumerate(records, 1):
        where = f"{source} record {index}"
        name = _text(rec, "name")
        if shape == "national-code102":
            code = _text(rec, "code102") or _text(rec, "code")
            qd20 = _text(rec, "code")
        else:
            code = _text(rec, "code")
            qd20 = _text(rec, "code_qd20")
        if not code or not name:
            raise _invalid(where, "a record needs a code and a name", "bản ghi thiếu mã hoặc tên")
        if shape == "national-pid":
            pid = _text(rec, "pid")
            old = _text(rec, "oldCode")
            out.append(
                Agency(
                    code=code,
                    name=name,
                    code_qd20=qd20,
                    parent_code=by_id.get(pid) if pid and pid != "0" else None,
                    email=_text(rec, "mail"),
                    former_codes=(old,) if old and old != code else (),
                    registry_id=_text(rec, "id"),
                )
            )
        elif shape == "national-code102":
            out.append(
                Agency(
                    code=code,
                    name=name,
                    code_qd20=qd20 if qd20 != code else None,
                    email=_text(rec, "mail"),
                    registry_id=_text(rec, "id"),
                )
            )
        else:
            level = _text(rec, "level")
            former = rec.get("former_codes") or ()
            if isinstance(former, str):
                former = [c for c in former.split(";") if c.strip()]
            out.append(
                Agency(
                    code=code,
                    name=name,
                    code_qd20=qd20,
                    parent_code=_text(rec, "parent"),
                    level=int(level) if level else None,
                    system_id=_text(rec, "system_id"),
                    valid_from=_date(rec, "valid_from", where),
                    valid_to=_date(rec, "valid_to", where),
                    successor_code=_text(rec, "successor"),
                    email=_text(rec, "email") or _text(rec, "mail"),
                    former_codes=tuple(str(c) for c in former),
                    registry_id=_text(rec, "id"),
                )
            )
    return out


def _records_from_json(raw: bytes, source: str) -> list[Mapping[str, Any]]:
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(source, f"not UTF-8 JSON: {exc}", f"không phải JSON UTF-8: {exc}") from exc
    if isinstance(doc, dict):
        fmt = doc.get("format")
        if fmt is not None and fmt != REGISTRY_FORMAT:
            raise _invalid(
                source, f"unknown registry format {fmt!r}", f"định dạng danh mục lạ {fmt!r}"
            )
        doc = doc.get("agencies", doc.get("data"))
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise _invalid(
            source,
            "expected a list of agency records (or an object with 'agencies' / 'data')",
            "cần một danh sách bản ghi cơ quan (hoặc đối tượng có 'agencies' / 'data')",
        )
    return doc


def _records_from_csv(raw: bytes, source: str) -> list[Mapping[str, Any]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid(source, "CSV is not UTF-8", "tệp CSV không mã hóa UTF-8") from exc
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "code" not in reader.fieldnames:
        raise _invalid(source, "CSV header has no 'code' column", "tiêu đề CSV thiếu cột 'code'")
    return [dict(row) for row in reader]


def registry_from_bytes(
    raw: bytes, *, source: str = "registry", csv_format: bool = False
) -> Registry:
    """Build a registry from file contents (JSON, or CSV when ``csv_format``)."""
    records = _records_from_csv(raw, source) if csv_format else _records_from_json(raw, source)
    return Registry(agencies_from_records(records, source))


def load_registry(path: str | Path) -> Registry:
    """Read a registry file; ``.csv`` files are CSV, anything else JSON (shape detected)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise _invalid(str(p), f"cannot read: {exc}", f"không đọc được: {exc}") from exc
    return registry_from_bytes(raw, source=str(p), csv_format=p.suffix.lower() == ".csv")


def load_sample_registry() -> Registry:
    """The sample registry shipped in ``config/registry/sample.json`` (Nghệ An and friends)."""
    return load_registry(data_path("config", *SAMPLE_REGISTRY))
