"""PDF signature throughput: verification of a 200 KB signed PDF, and signing (file key, SoftHSM).

Run from the repository root::

    . .venv/bin/activate && python -m bench.bench_pdf [--seconds 5] [--no-softhsm]

What is measured (medians of per-operation wall time, one core, everything in-process):

* ``verify``: :meth:`signing.pdf_verify.PdfVerifier.verify` of a ≈ 200 KB PDF with one signature
  and with the two Nghị định 30 signatures (person + agency), the verdict cache cleared before
  each call (the per-certificate trust cache stays warm, as in the hub). Revocation comes from a
  CRL file (no network). Also the cached path (same bytes again).
* ``sign``: :meth:`signing.pdf_sign.PdfSigningService.sign` of the agency's attachment signature
  on the 200 KB PDF — the service as designed (key parsed once, ``bytes_reserved`` set) against
  the naive use (key file reloaded for every signature, pyHanko sizing the signature by signing
  twice), and with the key on a SoftHSM2 token when ``softhsm2-util`` is installed.

Certificates come from the generated test PKI (:mod:`tests.pki`); nothing is read from outside.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from signing.keys import DEFAULT_PKCS11_MODULE, load_key
from signing.pdf_layout import LayoutStyle, find_serif_font
from signing.pdf_sign import Box, PdfSigningService, SignatureRole, SignRequest
from signing.pdf_verify import PdfVerifier
from signing.trust import TrustEvaluator, TrustPolicy, TrustStore
from tests.pki import KEY_PASSWORD, TestPki, build_pki, write_key_files
from tests.tsa import TsaServer
from tests.unit.signing.pdf.pdfkit import make_pdf, seal_png, signature_png, signer_for


def measure(label: str, fn: Callable[[], object], seconds: float) -> dict[str, float]:
    fn()  # warm-up
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    row = {"n": len(times), "median_ms": med * 1000, "per_s": 1 / med}
    print(f"| {label} | {row['n']} | {row['median_ms']:.2f} | {row['per_s']:.1f} |", flush=True)
    return row


def softhsm_service(pki: TestPki, workdir: Path) -> PdfSigningService | None:
    util = shutil.which("softhsm2-util")
    if util is None or not Path(DEFAULT_PKCS11_MODULE).exists():
        print("(SoftHSM2 not installed: token signing not measured)")
        return None
    import pkcs11
    from cryptography.hazmat.primitives import serialization
    from pkcs11 import Attribute, CertificateType, ObjectClass

    (workdir / "tokens").mkdir(parents=True)
    conf = workdir / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {workdir / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    pem = workdir / "agency.pk8.pem"
    pem.write_bytes(pki.agency.key_pem)
    pin = "112233"
    for args in (
        ["--init-token", "--free", "--label", "bench", "--so-pin", "99887766", "--pin", pin],
        ["--import", str(pem), "--token", "bench", "--label", "agency", "--id", "01", "--pin", pin],
    ):
        subprocess.run([util, *args], check=True, capture_output=True)
    lib = pkcs11.lib(DEFAULT_PKCS11_MODULE)
    lib.reinitialize()
    with lib.get_token(token_label="bench").open(rw=True, user_pin=pin) as session:
        for label, key_id, issued in (
            ("agency", b"\x01", pki.agency),
            ("sub", b"\x09", pki.sub_ca),
        ):
            session.create_object(
                {
                    Attribute.CLASS: ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                    Attribute.TOKEN: True,
                    Attribute.LABEL: label,
                    Attribute.ID: key_id,
                    Attribute.SUBJECT: issued.cert.subject.public_bytes(),
                    Attribute.VALUE: issued.cert.public_bytes(serialization.Encoding.DER),
                }
            )
    key = load_key("pkcs11:token=bench;object=agency", pin=pin)
    return PdfSigningService(key.pyhanko_signer())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    parser.add_argument("--no-softhsm", action="store_true")
    args = parser.parse_args()
    s = args.seconds

    pki = build_pki()
    work = Path(tempfile.mkdtemp(prefix="bench-pdf-"))
    files = write_key_files(pki, work)
    store = TrustStore.from_pem(pki.anchors_pem, pki.intermediates_pem)
    policy = TrustPolicy(
        allow_network=False,
        prefer_ocsp=False,
        crl_files=(files["sub-ca.crl"], files["root.crl"]),
    )
    verifier = PdfVerifier(TrustEvaluator(store, policy))

    stamper = TsaServer((pki.root.cert, pki.root.key))._stamper
    base = make_pdf(2, pad_to=200_000)
    person = PdfSigningService(signer_for(pki.person, [pki.sub_ca.cert]))
    agency = PdfSigningService(signer_for(pki.agency, [pki.sub_ca.cert]))
    box = Box(330, 150, 510, 215)
    one = person.sign(base, SignRequest(SignatureRole.PERSON, box=box, image=signature_png()))
    two = agency.sign(one, SignRequest(SignatureRole.AGENCY, image=seal_png(), agency_name="Sở X"))
    assert verifier.verify(two).bottom_line
    print(f"PDF sizes: unsigned {len(base)} B, 1 signature {len(one)} B, 2 signatures {len(two)} B")
    print()
    print("| measurement | runs | median ms | per second |")
    print("|---|---:|---:|---:|")

    def verify_fresh(pdf: bytes) -> Callable[[], object]:
        def run() -> object:
            verifier.clear()
            verdict = verifier.verify(pdf)
            assert verdict.bottom_line
            return verdict

        return run

    measure("verify 200 KB PDF, 1 signature (verdict cache cleared)", verify_fresh(one), s)
    measure("verify 200 KB PDF, person + agency (verdict cache cleared)", verify_fresh(two), s)
    measure("verify 200 KB PDF, person + agency (cached verdict)", lambda: verifier.verify(two), s)
    stamped = PdfSigningService(signer_for(pki.person, [pki.sub_ca.cert]), timestamper=stamper)
    b_t = stamped.sign(base, SignRequest(SignatureRole.PERSON, box=box))
    measure("verify 200 KB PDF, 1 signature PAdES B-T (cache cleared)", verify_fresh(b_t), s)

    req = SignRequest(SignatureRole.ATTACHMENT, number="12/QĐ-UBND")
    p12 = f"file:{files['agency.p12']}"
    key = load_key(p12, pin=KEY_PASSWORD)
    kept = PdfSigningService(key.pyhanko_signer())
    measure(
        "sign 200 KB PDF, file key (PKCS#12) loaded once, bytes_reserved set",
        lambda: kept.sign(base, req),
        s,
    )
    font = find_serif_font()
    if font is not None:
        embedded = PdfSigningService(key.pyhanko_signer(), style=LayoutStyle(font_file=font))
        measure(
            f"sign 200 KB PDF, same + embedded font ({font.name}, Vietnamese text)",
            lambda: embedded.sign(base, req),
            s,
        )
    timestamped = PdfSigningService(key.pyhanko_signer(), timestamper=stamper)
    measure(
        "sign 200 KB PDF, same + RFC 3161 timestamp (in-process TSA)",
        lambda: timestamped.sign(base, req),
        s,
    )

    def naive() -> object:
        from io import BytesIO

        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import signers
        from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter

        signer = signers.SimpleSigner.load_pkcs12(
            str(files["agency.p12"]), passphrase=KEY_PASSWORD.encode()
        )
        w = IncrementalPdfFileWriter(BytesIO(base), strict=False)
        meta = signers.PdfSignatureMetadata(field_name="s", subfilter=SigSeedSubFilter.PADES)
        out = BytesIO()
        signers.PdfSigner(
            meta, signer, new_field_spec=SigFieldSpec("s", box=(400, 760, 560, 800))
        ).sign_pdf(w, output=out)
        return out

    measure("sign 200 KB PDF, naive (PKCS#12 reloaded, size by signing twice)", naive, s)
    if not args.no_softhsm:
        token = softhsm_service(pki, work / "softhsm")
        if token is not None:
            measure("sign 200 KB PDF, SoftHSM2 token key kept", lambda: token.sign(base, req), s)


if __name__ == "__main__":
    main()
