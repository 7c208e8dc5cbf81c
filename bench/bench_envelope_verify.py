"""Envelope XML-DSig verification throughput on one core (4 KB edXML package).

Run from the repository root::

    . .venv/bin/activate
    PYTHONPATH=. python bench/bench_envelope_verify.py [--n 3000] [--rounds 5] [--size 4096]

Compares, on the same signed package and in the same process:

* ``signxml, chain every time`` — ``XMLVerifier().verify(data, ca_pem_file=…)``: what a naive
  integration does (chain built per verification);
* ``signxml, pinned cert`` — ``XMLVerifier().verify(data, x509_cert=cert)``: signxml alone with
  the certificate pinned (the floor for "signxml as the authority");
* ``SignatureVerifier.verify_envelope`` — the hub's port: shape / wrapping / algorithm checks,
  certificate cache, trust decision cached per certificate, signxml pinned; revocation checked
  once via the loopback OCSP responder and then cached.

Figures are CPU-time medians (``time.process_time``) over ``--rounds`` rounds of ``--n``
verifications; wall time is printed too. The PKI is generated at start (tests.pki).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from signxml import SignatureConfiguration, XMLVerifier

from hub import xmlsafe
from signing.keys import load_key
from signing.trust import TrustStore
from signing.xmldsig import _LOCATION, SignatureVerifier, sign_envelope
from tests.pki import KEY_PASSWORD, RevocationServer, build_pki, write_key_files
from tests.signing_fixtures import build_package


def measure(
    cases: list[tuple[str, Callable[[], object]]], n: int, rounds: int
) -> dict[str, tuple[float, float]]:
    """Per case: (median verifications per CPU second, median per wall second).

    Rounds are interleaved (case A, B, C, then A, B, C again…) so that load from other
    processes on the machine drifts over all cases alike instead of favouring whichever ran
    during a quiet moment.
    """
    for _, fn in cases:
        for _ in range(min(n, 200)):
            fn()
    cpu: dict[str, list[float]] = {name: [] for name, _ in cases}
    wall: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(rounds):
        for name, fn in cases:
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(n):
                fn()
            cpu[name].append(n / (time.process_time() - c0))
            wall[name].append(n / (time.perf_counter() - w0))
    return {
        name: (statistics.median(cpu[name]), statistics.median(wall[name])) for name, _ in cases
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", type=int, default=4096, help="unsigned package size in bytes")
    args = ap.parse_args(argv)

    server = RevocationServer().start()
    try:
        pki = build_pki(
            crl_url=server.crl_url, ocsp_url=server.ocsp_url, root_crl_url=server.root_crl_url
        )
        server.pki = pki
        tmp = Path(tempfile.mkdtemp(prefix="bench-env-"))
        files = write_key_files(pki, tmp)
        key = load_key(f"file:{files['agency.p12']}", pin=KEY_PASSWORD)
        package = build_package(size=args.size)
        signed = sign_envelope(package, key, include_chain=False)
        signed_chain = sign_envelope(package, key, include_chain=True)
        ca_file = str(files["ca-bundle.pem"])
        cert = key.certificate
        verifier = SignatureVerifier(TrustStore.from_pem(pki.anchors_pem, pki.intermediates_pem))
        root = xmlsafe.parse(signed)
        assert verifier.verify_envelope(signed, "000.00.31.H99", root=root).bottom_line
        config = SignatureConfiguration(location=_LOCATION)

        # signxml's chain check needs the sub-CA inside the signature: use the chain variant.
        def naive() -> object:
            return XMLVerifier().verify(signed_chain, ca_pem_file=ca_file, expect_config=config)

        def pinned() -> object:
            return XMLVerifier().verify(signed, x509_cert=cert, expect_config=config)

        def port() -> object:
            return verifier.verify_envelope(signed, "000.00.31.H99", root=root)

        root_chain = xmlsafe.parse(signed_chain)

        def port_chain() -> object:
            return verifier.verify_envelope(signed_chain, "000.00.31.H99", root=root_chain)

        def port_parse() -> object:
            return verifier.verify_envelope(signed, "000.00.31.H99")

        print(
            f"package: {len(package)} B unsigned, {len(signed)} B signed (leaf cert), "
            f"{len(signed_chain)} B signed (leaf + sub-CA)"
        )
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"n={args.n} rounds={args.rounds}; python {sys.version.split()[0]}; "
            f"{os.cpu_count()} CPUs, load average at start {load}"
        )
        print(f"{'case':58} {'per CPU s':>10} {'per wall s':>10} {'µs CPU':>8}")
        cases = [
            ("signxml, chain validated every time (leaf + sub-CA)", naive),
            ("signxml, pinned certificate", pinned),
            ("SignatureVerifier.verify_envelope, tree given", port),
            ("SignatureVerifier.verify_envelope, tree given, chain in sig", port_chain),
            ("SignatureVerifier.verify_envelope, bytes only (parses)", port_parse),
        ]
        for name, (cpu, wall) in measure(cases, args.n, args.rounds).items():
            print(f"{name:58} {cpu:10.0f} {wall:10.0f} {1e6 / cpu:8.0f}")
        print(f"load average at end {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"OCSP requests made: {server.hits['ocsp']} (trust decided once, then cached)")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
