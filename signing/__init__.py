"""Digital signatures for the hub: edXML envelope XML-DSig and PDF document signatures.

This package is an adapter: it may import :mod:`hub`, never the reverse (tested by
``tests/unit/test_dependency_rule.py``). The composition root builds its objects once — keys,
trust evaluators and verifiers are expensive to build and cheap to reuse — and hands them to the
services through the ports :mod:`hub.ports` declares.

Modules:

* :mod:`signing.verdicts` — frozen verdict values (:class:`~signing.verdicts.SignerIdentity`,
  :class:`~signing.verdicts.TrustStatus`, :class:`~signing.verdicts.EnvelopeVerdict`, the
  three-way :class:`~signing.verdicts.Outcome` with its ETSI sub-indication, and the shared
  base the PDF verdict extends).
* :mod:`signing.trust` — trust anchors, chain building, CRL/OCSP revocation of the signer and
  every intermediate with a grace period for isolated networks, one cached decision per
  certificate; :mod:`signing.poe` — a timestamped signature's chain judged at its timestamp.
* :mod:`signing.keys` — ``file:`` and ``pkcs11:`` key references, loaded once
  (:mod:`signing.pkcs11_keys` for tokens).
* :mod:`signing.xmldsig` — envelope signature verification (per-sender
  :class:`~signing.xmldsig.EnvelopePolicy`) and signing.
* :mod:`signing.envelope_port` — :class:`~signing.envelope_port.HubSignatureVerifier`, the
  implementation of the hub's ``SignatureVerifier`` port.
* :mod:`signing.pdf_sign`, :mod:`signing.pdf_verify` (values in :mod:`signing.pdf_verdicts`),
  :mod:`signing.pdf_layout`, :mod:`signing.nd30`, :mod:`signing.cli` — the PDF side and the
  command-line group.

Nothing is imported here, so ``import signing`` costs nothing and pulls no optional library.
"""
