"""Everything the reader reads from one package, as JSON-ready data (``lienthong edxml inspect``).

Contract: :func:`inspect_package` takes the package bytes and returns a dict; it raises only
what the reader raises for bytes that are not a readable package (:class:`XmlError`,
:class:`EdxmlError`). An attachment that does not decode is *reported*, not raised.

Theory of operation. The model values (:mod:`hub.edxml.model`) are converted field by field
by :func:`model_to_json` — every dataclass field, under its own name (``from_`` as ``from``),
dates as their original text beside the parsed value — so a field added to the model later
appears here without anyone remembering to add it (a test walks the model to hold this).
Two things the model does not carry are added:

* **attachments**, streamed once through :func:`hub.edxml.attachments.iter_parsed_attachments`
  (no second parse, one spooled copy at a time): for each ``Attachment`` whether its base64
  decoded, the decoded size and SHA-256, whether it was a ZIP and the files inside; an
  attachment that does not decode carries the reason, and the ones after it are marked not
  reached (the stream stops at the first broken payload);
* the **envelope signature** summary: its namespace (XML-DSig or the SDK's edXML namespace),
  algorithms, reference URIs, the certificate's subject, issuer and validity when it is one,
  and the shape warnings of the profile (``signature.*``). Whether it *verifies* is for
  ``lienthong verify`` and the intake's verifier, which know the trust anchors.

Hazard: the package text is the sender's. Nothing here is logged; the CLI prints it to the
person who asked.
"""

from __future__ import annotations

import binascii
import dataclasses
import datetime as dt
import enum
from typing import Any

from lxml import etree

from hub import xmlsafe
from hub.edxml.attachments import iter_parsed_attachments
from hub.edxml.model import DSIG_NS, EdocPackage, EdxmlDate, EdxmlTimestamp, StatusPackage
from hub.edxml.profile_schema import signature_problems
from hub.edxml.reader import ParsedPackage, parse_package
from hub.errors import AttachmentError, XmlError

__all__ = ["inspect_package", "json_name", "model_to_json"]


def json_name(field_name: str) -> str:
    """The JSON key of a model field: its name, without the trailing ``_`` of ``from_``."""
    return field_name.rstrip("_")


def model_to_json(value: Any) -> Any:
    """A model value as JSON-ready data: dataclasses field by field, enums as wire values,
    ``EdxmlDate`` / ``EdxmlTimestamp`` as ``{"raw", "value"|"utc"}``, tuples as lists."""
    if isinstance(value, EdxmlDate):
        return {"raw": value.raw, "value": value.value.isoformat() if value.value else None}
    if isinstance(value, EdxmlTimestamp):
        return {"raw": value.raw, "utc": value.utc.isoformat() if value.utc else None}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            json_name(f.name): model_to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [model_to_json(v) for v in value]
    if isinstance(value, bytes):  # the envelope signature: summarised separately
        return {"bytes": len(value)}
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def inspect_package(data: bytes) -> dict[str, Any]:
    """What the reader reads from ``data``, the attachments as decoded, and the signature."""
    parsed = parse_package(data)
    pkg = parsed.package
    out: dict[str, Any] = {"kind": pkg.kind.value}
    body = model_to_json(pkg)
    body.pop("kind", None)
    if isinstance(pkg, EdocPackage):
        out["business"] = {
            "type": int(pkg.business_type),
            "name": pkg.business_type.name.lower(),
        }
        body["attachments"] = _attachments(pkg, parsed, data)
    out.update(body)
    out["signature"] = _signature(pkg)
    return out


# --------------------------------------------------------------------------- attachments


def _attachments(pkg: EdocPackage, parsed: ParsedPackage, data: bytes) -> list[dict[str, Any]]:
    decoded: dict[str, list[Any]] = {}
    failure: AttachmentError | None = None
    try:
        for item in iter_parsed_attachments(parsed, data, require_manifest_match=False):
            with item:
                decoded.setdefault(item.content_id, []).append(item)
    except AttachmentError as exc:
        failure = exc
    failed_cid = str((failure.details or {}).get("content_id", "")) if failure else None
    reached = True
    out: list[dict[str, Any]] = []
    for meta in pkg.attachments:
        entry: dict[str, Any] = model_to_json(meta)
        items = decoded.get(meta.content_id)
        if items:
            first = items[0]
            entry["decoded"] = True
            entry["size"] = first.payload_size
            entry["sha256"] = first.payload_sha256
            entry["zip"] = first.was_zip
            entry["files"] = [
                {"name": i.entry_name or i.attachment_name, "size": i.size, "sha256": i.sha256}
                for i in items
            ]
        elif failure is not None and reached and meta.content_id == failed_cid:
            entry["decoded"] = False
            entry["problem"] = {"code": failure.code, "message_en": failure.message_en,
                                "message_vi": failure.message_vi}  # fmt: skip
            reached = False
        else:
            entry["decoded"] = None  # not reached: the stream stopped at an earlier payload
        out.append(entry)
    return out


# --------------------------------------------------------------------------- signature


def _signature(pkg: EdocPackage | StatusPackage) -> dict[str, Any]:
    if pkg.signature is None:
        return {"present": False}
    try:
        sig = xmlsafe.parse(pkg.signature)
    except XmlError:  # pragma: no cover - the bytes came out of a parsed tree
        return {"present": True, "bytes": len(pkg.signature), "readable": False}
    out: dict[str, Any] = {
        "present": True,
        "bytes": len(pkg.signature),
        "namespace": "xmldsig" if sig.tag == f"{{{DSIG_NS}}}Signature" else "edxml",
    }
    for name, key in (
        ("CanonicalizationMethod", "canonicalization"),
        ("SignatureMethod", "signature_method"),
    ):
        el = _first_local(sig, name)
        if el is not None:
            out[key] = el.get("Algorithm")
    out["digest_methods"] = sorted(
        {el.get("Algorithm", "") for el in _all_local(sig, "DigestMethod")}
    )
    out["references"] = [el.get("URI", "") for el in _all_local(sig, "Reference")]
    cert_el = _first_local(sig, "X509Certificate")
    out["certificate"] = _certificate(cert_el.text or "") if cert_el is not None else None
    out["shape_warnings"] = [p.code for p in signature_problems(sig, "Signature")]
    return out


def _first_local(root: etree._Element, name: str) -> etree._Element | None:
    return next(iter(_all_local(root, name)), None)


def _all_local(root: etree._Element, name: str) -> list[etree._Element]:
    return [
        el for el in root.iter() if isinstance(el.tag, str) and etree.QName(el).localname == name
    ]


def _certificate(text: str) -> dict[str, Any]:
    """Subject, issuer, serial and validity of a base64 DER certificate, or why not."""
    from cryptography import x509

    try:
        der = binascii.a2b_base64("".join(text.split()), strict_mode=True)
        cert = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        return {"readable": False, "chars": len(text.strip())}
    return {
        "readable": True,
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
    }
