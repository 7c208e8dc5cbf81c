"""Trust decisions on the generated PKI: chain, validity, revocation (OCSP, CRL), caching."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from signing.trust import RevocationCache, TrustEvaluator, TrustPolicy, TrustStore
from signing.verdicts import RevocationSource, Trust
from tests.pki import RevocationServer, TestPki


def test_agency_certificate_is_trusted_with_ocsp(
    pki_online: TestPki, make_trust_evaluator: Callable[..., TrustEvaluator]
) -> None:
    st = make_trust_evaluator().evaluate(pki_online.agency.cert)
    assert st.status is Trust.TRUSTED
    assert st.revocation_source is RevocationSource.OCSP
    assert len(st.chain) == 3
    assert not st.revocation_stale


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("expired", Trust.EXPIRED),
        ("not_yet_valid", Trust.NOT_YET_VALID),
        ("revoked", Trust.REVOKED),
        ("impostor", Trust.UNTRUSTED),
        ("person", Trust.TRUSTED),
        ("agency_ec", Trust.TRUSTED),
    ],
)
def test_each_certificate_gets_its_status(
    pki_online: TestPki,
    make_trust_evaluator: Callable[..., TrustEvaluator],
    role: str,
    expected: Trust,
) -> None:
    cert = getattr(pki_online, role).cert
    assert make_trust_evaluator().evaluate(cert).status is expected


def test_revoked_by_crl_when_ocsp_is_not_preferred(
    pki_online: TestPki,
    revocation_server: RevocationServer,
    make_trust_evaluator: Callable[..., TrustEvaluator],
) -> None:
    ev = make_trust_evaluator(TrustPolicy(prefer_ocsp=False))
    crl_hits = revocation_server.hits["crl"]
    st = ev.evaluate(pki_online.revoked.cert)
    assert revocation_server.hits["crl"] == crl_hits + 1  # fetched over loopback HTTP
    assert st.status is Trust.REVOKED
    assert st.revocation_source is RevocationSource.CRL
    assert st.revoked_at is not None


def test_decision_is_cached_per_fingerprint(
    pki_online: TestPki,
    revocation_server: RevocationServer,
    make_trust_evaluator: Callable[..., TrustEvaluator],
) -> None:
    ev = make_trust_evaluator()
    before = dict(revocation_server.hits)
    first = ev.evaluate(pki_online.person.cert)
    second = ev.evaluate(pki_online.person.cert)
    assert first is second
    assert revocation_server.hits["ocsp"] == before["ocsp"] + 1


def test_offline_without_data_is_unknown_revocation(
    pki_online: TestPki,
    revocation_server: RevocationServer,
    make_trust_evaluator: Callable[..., TrustEvaluator],
) -> None:
    revocation_server.available = False
    st = make_trust_evaluator().evaluate(pki_online.agency.cert)
    assert st.status is Trust.UNKNOWN_REVOCATION
    relaxed = make_trust_evaluator(TrustPolicy(require_revocation=False, network_timeout=2.0))
    assert relaxed.evaluate(pki_online.agency.cert).status is Trust.TRUSTED


def test_isolated_network_uses_crl_file_and_says_how_old(
    pki: TestPki, trust_store: TrustStore, key_files: dict[str, Path]
) -> None:
    crl_path = key_files["sub-ca.crl"]
    policy = TrustPolicy(allow_network=False, crl_files=(crl_path, key_files["root.crl"]))
    ev = TrustEvaluator(trust_store, policy)
    st = ev.evaluate(pki.revoked.cert)
    assert st.status is Trust.REVOKED
    assert st.revocation_source is RevocationSource.CRL
    ok = ev.evaluate(pki.agency.cert)
    assert ok.status is Trust.TRUSTED
    age = ok.revocation_age()
    assert age is not None
    assert age >= dt.timedelta(0)


def test_stale_cached_data_is_used_inside_grace_only(
    pki_online: TestPki,
    revocation_server: RevocationServer,
    trust_store: TrustStore,
) -> None:
    cache = RevocationCache()
    now = [dt.datetime.now(dt.UTC)]
    policy = TrustPolicy(revocation_grace=dt.timedelta(days=2), network_timeout=2.0)
    ev = TrustEvaluator(trust_store, policy, cache=cache, clock=lambda: now[0])
    assert ev.evaluate(pki_online.agency.cert).status is Trust.TRUSTED
    revocation_server.available = False
    # OCSP nextUpdate is 4 h and the CRL's 7 days ahead: 5 h later only stale OCSP data would be
    # cached, so drop the CRL from the cache to see the grace period at work.
    # (The root's CRL, about the sub-CA, stays: only the signer's data goes stale here.)
    cache.crls.pop(pki_online.sub_ca.cert.subject.public_bytes(), None)
    now[0] += dt.timedelta(hours=5)
    ev.clear()
    st = ev.evaluate(pki_online.agency.cert)
    assert st.status is Trust.TRUSTED
    assert st.revocation_stale
    assert "stale" in st.detail
    now[0] += dt.timedelta(days=3)
    ev.clear()
    assert ev.evaluate(pki_online.agency.cert).status is Trust.UNKNOWN_REVOCATION


def test_clock_skew_tolerance(pki: TestPki, trust_store: TrustStore) -> None:
    nb = pki.not_yet_valid.cert.not_valid_before_utc
    policy = TrustPolicy(check_revocation=False, clock_skew=dt.timedelta(minutes=5))
    early = TrustEvaluator(trust_store, policy, clock=lambda: nb - dt.timedelta(minutes=3))
    assert early.evaluate(pki.not_yet_valid.cert).status is Trust.TRUSTED
    too_early = TrustEvaluator(trust_store, policy, clock=lambda: nb - dt.timedelta(minutes=10))
    assert too_early.evaluate(pki.not_yet_valid.cert).status is Trust.NOT_YET_VALID


def test_anchor_bundle_must_hold_a_certificate() -> None:
    from hub.errors import KeyAccessError

    with pytest.raises(KeyAccessError):
        TrustStore.from_pem(b"")


def test_forged_ocsp_good_is_ignored_and_crl_answers(
    pki_online: TestPki, trust_store: TrustStore
) -> None:
    """A rogue responder says "good" for the revoked certificate, signed by another key."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    from signing.trust import urllib_fetch

    def rogue_then_real(url: str, body: bytes | None, ctype: str, timeout: float) -> bytes:
        if "ocsp" not in url:
            return urllib_fetch(url, body, ctype, timeout)
        now = dt.datetime.now(dt.UTC)
        forged = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=pki_online.revoked.cert,
                issuer=pki_online.sub_ca.cert,
                algorithm=hashes.SHA1(),
                cert_status=ocsp.OCSPCertStatus.GOOD,
                this_update=now,
                next_update=now + dt.timedelta(hours=1),
                revocation_time=None,
                revocation_reason=None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.NAME, pki_online.sub_ca.cert)
            .sign(pki_online.impostor.key, hashes.SHA256())
        )
        return forged.public_bytes(serialization.Encoding.DER)

    ev = TrustEvaluator(trust_store, TrustPolicy(network_timeout=2.0), fetch=rogue_then_real)
    st = ev.evaluate(pki_online.revoked.cert)
    assert st.status is Trust.REVOKED
    assert st.revocation_source is RevocationSource.CRL
