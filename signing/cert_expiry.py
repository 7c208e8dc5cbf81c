"""Expiry of the certificates the hub relies on: its trust anchors and the keys it signs with
(agency seals, evidence receipts), for the operations console.

Reading never signs and never keeps a key open: a key is loaded (its PIN from the variable the
settings name, never prompted), its certificate read, and the key closed. A bundle or key that
cannot be read is reported with its error code, not raised — the console shows it as a problem.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

from hub.errors import HubError
from hub.services.activity import CertificateFact
from signing.keys import PIN_ENV, load_key
from signing.trust import load_pem_bundle


def _fact(role: str, name: str, cert: x509.Certificate) -> CertificateFact:
    return CertificateFact(role, name, cert.subject.rfc4514_string(), cert.not_valid_after_utc)


def anchor_facts(bundles: Sequence[Path]) -> list[CertificateFact]:
    """One fact per certificate in each PEM bundle (or one problem per unreadable bundle)."""
    out: list[CertificateFact] = []
    for path in bundles:
        try:
            certs = load_pem_bundle(path.read_bytes())
        except (OSError, ValueError) as exc:
            out.append(CertificateFact("anchor", str(path), None, None, type(exc).__name__))
            continue
        out.extend(_fact("anchor", str(path), c) for c in certs)
    return out


def key_facts(keys: Sequence[tuple[str, str, str, str]]) -> list[CertificateFact]:
    """For each ``(role, name, key reference, PIN variable)``: its certificate's expiry."""
    out: list[CertificateFact] = []
    for role, name, ref, pin_env in keys:
        try:
            key = load_key(ref, pin=os.environ.get(pin_env or PIN_ENV) or None,
                           check_validity=False)  # fmt: skip
        except HubError as exc:
            out.append(CertificateFact(role, name, None, None, f"{exc.code}: {exc.message_en}"))
            continue
        except (OSError, ValueError) as exc:  # a driver or file problem outside the error tree
            out.append(CertificateFact(role, name, None, None, type(exc).__name__))
            continue
        try:
            out.append(_fact(role, name, key.certificate))
        finally:
            key.close()
    return out
