"""Three-way outcomes: the values, the revocation of intermediates, the envelope's verdicts.

The trust cases run against the loopback CRL/OCSP server of the generated PKI: a sub-CA that
the root's CRL lists as revoked (invalid ``REVOKED``), the root's CRL unreachable while the
signer's OCSP answers (indeterminate ``TRY_LATER`` naming the sub-CA), everything unreachable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.ports import Indication
from signing.keys import LoadedKey, load_key
from signing.trust import TrustEvaluator, TrustPolicy, TrustStore
from signing.verdicts import (
    NO_SIGNATURE,
    VALID,
    Outcome,
    SubIndication,
    Trust,
    combine,
    outcome_of,
)
from signing.xmldsig import SignatureVerifier, sign_envelope
from tests.pki import KEY_PASSWORD, RevocationServer, TestPki
from tests.signing_fixtures import build_package

SENDER = "000.00.31.H99"


@pytest.fixture
def server(pki_online: TestPki, revocation_server: RevocationServer) -> Iterator[RevocationServer]:
    """The revocation server, every source back up after the test."""
    yield revocation_server
    revocation_server.down.clear()


@pytest.fixture(scope="module")
def revoked_ca_key(key_files: dict[str, Path]) -> Iterator[LoadedKey]:
    key = load_key(f"file:{key_files['revoked_ca_leaf.p12']}", pin=KEY_PASSWORD)
    yield key
    key.close()


# -- the values -----------------------------------------------------------------------------


def test_outcome_words_and_json() -> None:
    revoked = outcome_of(SubIndication.REVOKED, "revoked", "đã bị thu hồi")
    assert revoked.indication is Indication.INVALID
    assert (revoked.word("vi"), revoked.word("en")) == ("KHÔNG HỢP LỆ", "INVALID")
    assert json.loads(json.dumps(revoked.to_dict())) == {
        "verdict": "invalid",
        "subindication": "REVOKED",
    }
    later = outcome_of(SubIndication.TRY_LATER, "later", "sau")
    assert later.indication is Indication.INDETERMINATE
    assert later.word() == "CHƯA XÁC ĐỊNH ĐƯỢC"
    assert VALID.to_dict() == {"verdict": "valid", "subindication": None}
    assert VALID.word("en") == "VALID"


def test_combine_takes_the_worst_and_says_nothing_is_not_valid() -> None:
    bad = outcome_of(SubIndication.HASH_FAILURE, "changed", "bị sửa")
    unsure = outcome_of(SubIndication.TRY_LATER, "later", "sau")
    assert combine([VALID, unsure, bad, VALID]) is bad
    assert combine([VALID, unsure]) is unsure
    assert combine([VALID, VALID]) is VALID
    assert combine([]) is NO_SIGNATURE
    assert NO_SIGNATURE.indication is Indication.INDETERMINATE
    assert Indication.worst([]) is None


@pytest.mark.parametrize(
    "sub",
    [
        SubIndication.FORMAT_FAILURE,
        SubIndication.HASH_FAILURE,
        SubIndication.SIG_CRYPTO_FAILURE,
        SubIndication.REVOKED,
    ],
)
def test_proof_of_a_problem_is_invalid(sub: SubIndication) -> None:
    assert outcome_of(sub, "x", "x").indication is Indication.INVALID


def test_everything_else_is_indeterminate() -> None:
    invalid = {"FORMAT_FAILURE", "HASH_FAILURE", "SIG_CRYPTO_FAILURE", "REVOKED"}
    others = [s for s in SubIndication if s.value not in invalid]
    assert others
    assert {outcome_of(s, "x", "x").indication for s in others} == {Indication.INDETERMINATE}


# -- intermediates are checked for revocation ------------------------------------------------


def test_revoked_sub_ca_is_revoked(
    pki: TestPki, server: RevocationServer, make_trust_evaluator: Callable[..., TrustEvaluator]
) -> None:
    assert pki.revoked_ca is not None
    assert pki.revoked_ca_leaf is not None
    st = make_trust_evaluator().evaluate(pki.revoked_ca_leaf.cert, [pki.revoked_ca.cert])
    assert st.status is Trust.REVOKED
    assert st.revoked_at is not None
    assert pki.revoked_ca.cert.subject.rfc4514_string() in st.detail
    assert server.hits["root"] >= 1


def test_sub_ca_crl_unreachable_is_unknown_and_names_the_ca(
    pki: TestPki, server: RevocationServer, make_trust_evaluator: Callable[..., TrustEvaluator]
) -> None:
    server.down.add("root")
    st = make_trust_evaluator().evaluate(pki.person.cert)
    assert st.status is Trust.UNKNOWN_REVOCATION
    assert pki.sub_ca.cert.subject.rfc4514_string() in st.detail
    # with intermediates left unchecked, the signer's own OCSP answer suffices
    relaxed = make_trust_evaluator(TrustPolicy(network_timeout=2.0, check_ca_revocation=False))
    assert relaxed.evaluate(pki.person.cert).status is Trust.TRUSTED


def test_a_good_chain_checks_the_sub_ca_too(
    pki: TestPki, server: RevocationServer, make_trust_evaluator: Callable[..., TrustEvaluator]
) -> None:
    before = server.hits["root"]
    st = make_trust_evaluator().evaluate(pki.agency.cert)
    assert st.status is Trust.TRUSTED
    assert server.hits["root"] == before + 1


# -- the envelope's outcome ------------------------------------------------------------------


def _envelope_outcome(verifier: SignatureVerifier, data: bytes) -> Outcome:
    verdict = verifier.verify_envelope(data, SENDER)
    assert verdict.to_dict()["verdict"] == verdict.outcome.indication.value
    return verdict.outcome


def test_envelope_signed_under_a_revoked_sub_ca_is_invalid(
    trust_store: TrustStore, server: RevocationServer, revoked_ca_key: LoadedKey
) -> None:
    data = sign_envelope(build_package(), revoked_ca_key)  # carries the sub-CA in KeyInfo
    outcome = _envelope_outcome(SignatureVerifier(trust_store), data)
    assert (outcome.indication, outcome.subindication) == (
        Indication.INVALID,
        SubIndication.REVOKED,
    )


@pytest.mark.parametrize("down", [{"root"}, {"everything"}])
def test_envelope_with_revocation_unreachable_is_indeterminate(
    trust_store: TrustStore,
    server: RevocationServer,
    loaded_keys: dict[str, LoadedKey],
    down: set[str],
) -> None:
    data = sign_envelope(build_package(), loaded_keys["agency"])
    if down == {"everything"}:
        server.available = False
    else:
        server.down.update(down)
    outcome = _envelope_outcome(SignatureVerifier(trust_store), data)
    assert (outcome.indication, outcome.subindication) == (
        Indication.INDETERMINATE,
        SubIndication.TRY_LATER,
    )
    assert outcome.reason_vi
    assert "revocation" in outcome.reason_en


def test_valid_envelope_is_valid(
    trust_store: TrustStore, server: RevocationServer, loaded_keys: dict[str, LoadedKey]
) -> None:
    data = sign_envelope(build_package(), loaded_keys["agency"])
    assert _envelope_outcome(SignatureVerifier(trust_store), data) == VALID
