"""``lienthong evidence export | verify | chain``: delivery evidence for a disputed document.

* ``export DOC -o FILE`` — the ASiC-E container of a document (DOC: the hub's doc id or the
  package's DocumentId), signed with ``evidence.key`` (``--key`` overrides; a token's PIN comes
  from ``LIENTHONG_KEY_PIN``). ``--seal`` runs one sealing round first (links and timestamps
  what the workers have not sealed yet).
* ``verify FILE --ca PEM…`` — offline: needs nothing but the CA certificates of the hub's key
  and of the TSA (:mod:`signing.evidence_asic` explains each check, and how to repeat them with
  OpenSSL). Exit 0 when it holds, 1 when a check fails.
* ``chain`` — walks the whole evidence chain in the database, names the first broken link or
  a timestamped head no longer in it, and shows how many sealed events await a timestamp.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from hub.entrypoints.cli_hub import _build, _common


def register(sub: Any) -> None:
    p = sub.add_parser("evidence", help="signed delivery evidence: export, verify, chain")
    ev = p.add_subparsers(dest="evidence_command", metavar="ACTION", required=True)

    e = ev.add_parser("export", help="write a document's evidence as an ASiC-E container")
    _common(e)
    e.add_argument("doc", metavar="DOC", help="the hub's doc id or the edXML DocumentId")
    e.add_argument("-o", "--output", required=True, metavar="FILE")
    e.add_argument("--key", metavar="REF", help="file:… or pkcs11:… (default: evidence.key)")
    e.add_argument("--seal", action="store_true", help="run one sealing round first")
    e.set_defaults(handler=_export)

    v = ev.add_parser("verify", help="check an exported container offline")
    v.add_argument("file", metavar="FILE")
    v.add_argument(
        "--ca", nargs="+", default=[], metavar="PEM", help="CA certificates (hub key, TSA)"
    )
    v.add_argument("--json", action="store_true")
    v.set_defaults(handler=_verify)

    c = ev.add_parser("chain", help="check the evidence hash chain in the database")
    _common(c)
    c.set_defaults(handler=_chain)


def _export(args: argparse.Namespace) -> int:
    from signing.evidence_asic import export_with_key

    with _build(args) as hub:
        if args.seal:
            hub.evidence.seal_once()
        data = export_with_key(
            hub.evidence.store,
            hub.blobs,
            args.key or hub.settings.evidence.key,
            args.doc,
            hub_id=hub.settings.organ_id,
            now=hub.clock.now(),
        )
    Path(args.output).write_bytes(data)
    print(f"{args.output}: {len(data)} bytes")
    return 0


def _read_cas(paths: list[str]) -> list[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    out: list[bytes] = []
    for path in paths:
        data = Path(path).read_bytes()
        certs = (
            x509.load_pem_x509_certificates(data)
            if b"-----BEGIN" in data
            else [x509.load_der_x509_certificate(data)]
        )
        out += [c.public_bytes(Encoding.DER) for c in certs]
    return out


def _verify(args: argparse.Namespace) -> int:
    from signing.evidence_asic import verify_container

    # pyHanko logs each failed check with a traceback; the report below states them once.
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)
    report = verify_container(Path(args.file).read_bytes(), _read_cas(args.ca))
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "document": report.document,
                    "events_proven": report.events_proven,
                    "events_pending": report.events_pending,
                    "problems": report.problems,
                    "notes": report.notes,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0 if report.ok else 1
    for note in report.notes:
        print(f"  {note}")
    for problem in report.problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    if not report.ok:
        return 1
    print(
        f"OK: {report.events_proven} event(s) of document {report.document.get('doc_id')} "
        f"proven, {report.events_pending} not timestamped yet"
    )
    return 0


def _chain(args: argparse.Namespace) -> int:
    from hub.audit_chain import describe

    with _build(args) as hub:
        report = hub.evidence.verify()
        last = hub.evidence.store.last_batch()
        head_seq, _ = hub.evidence.store.head()
    out = describe(report)
    # Visible to IT even from another process than the sealer's: how far the TSA lags.
    out["last_timestamp_at"] = last.at.isoformat() if last is not None else None
    out["sealed_not_timestamped"] = head_seq - (last.to_seq if last is not None else 0)
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0 if report.ok else 1
