"""Delivery evidence as an ASiC-E container (ETSI EN 319 162-1), and its offline verification.

Layout of the ZIP (``lienthong evidence export``)::

    mimetype                        first, stored: application/vnd.etsi.asic-e+zip
    package.edxml                   the package bytes exactly as the hub received them
    receipt.json                    the hub's statement (hub.evidence.statement)
    receipt.p7s                     the hub's receipt: detached CMS (CAdES-BES) over receipt.json
    META-INF/chainpath-N.json       for each timestamp N: the document's events (in full) and the
                                    links (other events as leaf digests) up to the stamped head
    META-INF/timestamp-N.tst        the RFC 3161 TimeStampToken over that head (imprint = head)
    META-INF/ASiCManifest.xml       every file above with its SHA-256
    META-INF/signature.p7s          the hub's detached CMS (CAdES-BES) over ASiCManifest.xml

What :func:`verify_container` checks, with nothing but the CA certificates given: the mimetype
entry; the manifest's digests, and that every data file is listed (nothing added unsigned);
``signature.p7s`` over the manifest and ``receipt.p7s`` over the statement (intact, valid,
chaining to a given CA); that the statement's document digest is the package's SHA-256; each
chain path recomputed up to its head; each token's imprint = that head and its TSA chaining to a
given CA; and that every event of the statement is the event the chain path proves at its
position. Events sealed after the last timestamp, or not sealed yet, are reported as such
(not a failure: the next sealing round covers them; export again later).

Checking it independently with OpenSSL (unzip the container first)::

    openssl cms -verify -binary -inform DER -in META-INF/signature.p7s \\
        -content META-INF/ASiCManifest.xml -CAfile ca.pem -out /dev/null
    sha256sum package.edxml receipt.json …          # compare with the manifest's DigestValue
    openssl ts -verify -digest <head hex> -token_in -in META-INF/timestamp-1.tst \\
        -CAfile tsa-ca.pem

``<head hex>`` is ``head.hash`` of ``META-INF/chainpath-1.json``. The ``.tst`` files hold the
token itself (as EN 319 162-1 specifies), so ``openssl ts`` needs ``-token_in``; the chain
path is recomputed by hand as ``h = SHA-256(h ‖ leaf)`` over its entries (hex strings as ASCII,
``leaf`` = SHA-256 of the event's sorted compact JSON), starting from ``start_prev_hash``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.audit_chain import SealedRow
from hub.errors import KeyAccessError, NotFound
from hub.evidence import (
    EvidenceEvent,
    EvidenceStore,
    ReceiptSigner,
    chain_path,
    check_path,
    covering,
    event_fields,
    event_from_fields,
    statement,
)
from hub.ports import BlobStore
from hub.xmlsafe import local_name, parse
from signing.evidence import check_cms, check_timestamp

MIMETYPE = "application/vnd.etsi.asic-e+zip"
PACKAGE = "package.edxml"
RECEIPT = "receipt.json"
RECEIPT_SIG = "receipt.p7s"
MANIFEST = "META-INF/ASiCManifest.xml"
SIGNATURE = "META-INF/signature.p7s"
ASIC_NS = "http://uri.etsi.org/02918/v1.2.1#"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
SHA256_URI = "http://www.w3.org/2001/04/xmlenc#sha256"

_MIME = {
    PACKAGE: "application/xml",
    RECEIPT: "application/json",
    RECEIPT_SIG: "application/pkcs7-signature",
}


def _mime(name: str) -> str:
    if name.endswith(".tst"):
        return "application/vnd.etsi.timestamp-token"
    if name.endswith(".json"):
        return "application/json"
    return _MIME.get(name, "application/octet-stream")


def manifest_xml(files: dict[str, bytes]) -> bytes:
    """The ASiCManifest naming ``signature.p7s`` and listing ``files`` with their SHA-256."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<asic:ASiCManifest xmlns:asic="{ASIC_NS}" xmlns:ds="{DS_NS}">',
        f'  <asic:SigReference URI="{SIGNATURE}" MimeType="application/pkcs7-signature"/>',
    ]
    for name, data in files.items():
        value = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
        lines += [
            f'  <asic:DataObjectReference URI="{name}" MimeType="{_mime(name)}">',
            f'    <ds:DigestMethod Algorithm="{SHA256_URI}"/>',
            f"    <ds:DigestValue>{value}</ds:DigestValue>",
            "  </asic:DataObjectReference>",
        ]
    lines.append("</asic:ASiCManifest>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def build_container(
    package: bytes,
    statement: bytes,
    stamps: Sequence[tuple[bytes, dict[str, Any]]],
    signer: ReceiptSigner,
) -> bytes:
    """The container bytes: ``stamps`` are ``(token DER, chain path)`` pairs, oldest first."""
    files: dict[str, bytes] = {
        PACKAGE: package,
        RECEIPT: statement,
        RECEIPT_SIG: signer.sign(statement),
    }
    for n, (token, path) in enumerate(stamps, start=1):
        files[f"META-INF/chainpath-{n}.json"] = json.dumps(
            path, ensure_ascii=False, sort_keys=True, indent=1
        ).encode("utf-8")
        files[f"META-INF/timestamp-{n}.tst"] = token
    manifest = manifest_xml(files)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        # EN 319 162-1 §A.1: "mimetype" first, uncompressed, no extra field.
        zf.writestr(zipfile.ZipInfo("mimetype"), MIMETYPE, compress_type=zipfile.ZIP_STORED)
        for name, data in files.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(MANIFEST, manifest, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(SIGNATURE, signer.sign(manifest), compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def export_document(
    store: EvidenceStore,
    blobs: BlobStore,
    signer: ReceiptSigner,
    ref: str,
    *,
    hub_id: str,
    now: dt.datetime,
) -> bytes:
    """The evidence container of the document ``ref`` (hub doc id or edXML DocumentId).

    One chain path and timestamp per batch that covers some of the document's events: the
    path runs from the first of them in that batch to the batch's head. Raises
    :class:`hub.errors.NotFound` for an unknown document.
    """
    doc = store.document(ref)
    if doc is None:
        raise NotFound(
            f"no document {ref!r}",
            message_vi=f"không có văn bản {ref!r}",
            code="evidence.no_document",
        )
    events = store.events_of(doc.doc_id)
    stmt = statement(doc, events, hub_id=hub_id, issued_at=now)
    batches = store.batches()
    by_batch: dict[int, list[int]] = {}
    for item in events:
        if isinstance(item, SealedRow):
            batch = covering(batches, item.seq)
            if batch is not None:
                by_batch.setdefault(batch.to_seq, []).append(item.seq)
    stamps: list[tuple[bytes, dict[str, Any]]] = []
    for batch in batches:
        seqs = by_batch.get(batch.to_seq)
        if not seqs:
            continue
        rows: list[SealedRow[EvidenceEvent]] = list(store.chain(min(seqs), batch.to_seq))
        stamps.append((batch.token, chain_path(batch, rows, set(seqs))))
    return build_container(blobs.get(doc.digest), stmt, stamps, signer)


def export_with_key(
    store: EvidenceStore,
    blobs: BlobStore,
    key_ref: str | None,
    ref: str,
    *,
    hub_id: str,
    now: dt.datetime,
) -> bytes:
    """:func:`export_document` with receipts signed by the key ``key_ref`` (``file:…`` or
    ``pkcs11:…``; a token's PIN from ``LIENTHONG_KEY_PIN``), opened for this export and closed
    after it. :class:`KeyAccessError` (``evidence.no_key``) when no key is configured."""
    from signing.evidence import CmsReceiptSigner
    from signing.keys import load_key

    if not key_ref:
        raise KeyAccessError(
            "no receipt key: set evidence.key or pass --key",
            message_vi="chưa có khóa ký biên nhận: đặt evidence.key hoặc dùng --key",
            code="evidence.no_key",
        )
    key = load_key(key_ref)
    try:
        return export_document(store, blobs, CmsReceiptSigner(key), ref, hub_id=hub_id, now=now)
    finally:
        key.close()


@dataclass
class ContainerReport:
    """What :func:`verify_container` found; ``ok`` when no problem was found."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Facts that are not failures (events not timestamped yet, signer names, times)."""
    document: dict[str, Any] = field(default_factory=dict)
    events_proven: int = 0
    events_pending: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _manifest_digests(data: bytes, report: ContainerReport) -> dict[str, str]:
    digests: dict[str, str] = {}
    root = parse(data)
    if local_name(root) != "ASiCManifest":
        report.problems.append("ASiCManifest.xml: not an ASiCManifest")
        return digests
    sig_refs = [el.get("URI") for el in root if local_name(el) == "SigReference"]
    if sig_refs != [SIGNATURE]:
        report.problems.append(f"ASiCManifest.xml: SigReference is {sig_refs}, not {SIGNATURE}")
    for el in root:
        if local_name(el) != "DataObjectReference":
            continue
        uri = el.get("URI") or ""
        method = el.find(f"{{{DS_NS}}}DigestMethod")
        value = el.find(f"{{{DS_NS}}}DigestValue")
        if method is None or method.get("Algorithm") != SHA256_URI or value is None:
            report.problems.append(f"ASiCManifest.xml: {uri}: no SHA-256 digest")
            continue
        digests[uri] = (value.text or "").strip()
    return digests


def verify_container(data: bytes, ca_certs: list[bytes]) -> ContainerReport:
    """Check an exported container offline against ``ca_certs`` (DER), every check run."""
    report = ContainerReport()
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
        files = {i.filename: zf.read(i) for i in infos}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        report.problems.append(f"not a ZIP container: {exc}")
        return report
    first = infos[0] if infos else None
    if (
        first is None
        or first.filename != "mimetype"
        or first.compress_type != zipfile.ZIP_STORED
        or files["mimetype"] != MIMETYPE.encode()
    ):
        report.problems.append(f"the first entry is not a stored 'mimetype' of {MIMETYPE}")
    for name in (PACKAGE, RECEIPT, RECEIPT_SIG, MANIFEST, SIGNATURE):
        if name not in files:
            report.problems.append(f"{name} is missing")
    if report.problems:
        return report

    # The manifest: every data file listed, every digest right.
    digests = _manifest_digests(files[MANIFEST], report)
    data_files = set(files) - {"mimetype", MANIFEST, SIGNATURE}
    for name in sorted(data_files - set(digests)):
        report.problems.append(f"{name} is not listed in the manifest")
    for name, value in digests.items():
        if name not in files:
            report.problems.append(f"{name} is listed in the manifest but missing")
            continue
        actual = base64.b64encode(hashlib.sha256(files[name]).digest()).decode("ascii")
        if actual != value:
            report.problems.append(f"{name}: its digest is not the manifest's (changed)")

    for label, content, sig in (
        ("signature.p7s (over the manifest)", files[MANIFEST], files[SIGNATURE]),
        ("receipt.p7s (over receipt.json)", files[RECEIPT], files[RECEIPT_SIG]),
    ):
        verdict = check_cms(content, sig, ca_certs)
        if not verdict.bottom_line:
            report.problems.append(f"{label}: {verdict.problem}")
        else:
            report.notes.append(f"{label}: signed by {verdict.signer}")

    _check_statement(files, report, ca_certs)
    return report


def _check_statement(files: dict[str, bytes], report: ContainerReport, ca: list[bytes]) -> None:
    try:
        stmt = json.loads(files[RECEIPT])
        doc = stmt["document"]
        items = stmt["events"]
    except (ValueError, KeyError, TypeError) as exc:
        report.problems.append(f"receipt.json is not a statement: {exc}")
        return
    report.document = dict(doc)
    if hashlib.sha256(files[PACKAGE]).hexdigest() != doc.get("digest"):
        report.problems.append("package.edxml: its SHA-256 is not the statement's digest")

    proven: dict[int, tuple[str, dict[str, Any]]] = {}
    n = 1
    while f"META-INF/timestamp-{n}.tst" in files:
        name = f"META-INF/timestamp-{n}.tst"
        try:
            path = json.loads(files[f"META-INF/chainpath-{n}.json"])
        except (KeyError, ValueError) as exc:
            report.problems.append(f"chainpath-{n}.json unreadable: {exc}")
            n += 1
            continue
        check = check_path(path)
        if check.problem:
            report.problems.append(f"chainpath-{n}.json: {check.problem}")
        verdict = check_timestamp(files[name], bytes.fromhex(check.head_hash), ca)
        if not verdict.bottom_line:
            report.problems.append(f"timestamp-{n}.tst: {verdict.problem}")
        else:
            report.notes.append(
                f"timestamp-{n}.tst: chain row {check.head_seq} attested at "
                f"{verdict.at:%Y-%m-%d %H:%M:%S}Z by {verdict.signer}"
            )
        for seq, (digest, chained) in check.events.items():
            proven[seq] = (digest, event_fields(chained))
        n += 1

    for item in items:
        seq = item.get("seq")
        event = item.get("event") or {}
        if event.get("doc_id") != doc.get("doc_id") or event.get("digest") != doc.get("digest"):
            report.problems.append(f"receipt.json: event {seq} is not of this document")
        if seq is None:
            report.events_pending += 1
            report.notes.append(
                f"event {event.get('to_state')} at {event.get('at')}: not sealed yet"
            )
            continue
        if seq not in proven:
            report.events_pending += 1
            report.notes.append(f"event at chain row {seq}: sealed, not timestamped yet")
            continue
        digest, fields = proven[seq]
        # Normalise the statement's event the same way (a changed field shows as a mismatch).
        try:
            mine = event_fields(event_from_fields(event))
        except (KeyError, ValueError, TypeError):
            mine = {}
        if digest != item.get("hash") or fields != mine:
            report.problems.append(f"receipt.json: event at chain row {seq} is not the chain's")
        else:
            report.events_proven += 1
