"""Edocs carrying a 200 KB signed PDF, every PDF distinct: the intake's cold PDF validation.

Each PDF is signed separately (its own bytes, its own CMS), so no verdict is reused from one
edoc to the next — the case of real traffic, where a document is seen once. What stays warm
across edocs is what the hub keeps on purpose: the signer's certificate chain and revocation
answer (per certificate, as every agency signs many documents), the XSD, the registry.

The pushes go through :meth:`hub.services.hub.HubServices.push` in-process, one after the
other on one thread (the API runs the service in one process: its CPU per edoc bounds its
rate), with the verifier wired as ``hub.entrypoints.bootstrap.build_verifier`` wires it (test
PKI as trust anchors, CRL files, no network), over the in-memory store (the store's cost per
push is measured by ``bench/bench_hub.py``). Reported: edocs/s, CPU ms per edoc, and with
``--profile`` the functions that take the most of it.

Usage: ``python bench/bench_pdf_cold.py [--n 200] [--profile]``
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.memory import MemoryBlobStore, MemoryStore
from hub.agency.loading import load_sample_registry
from hub.edxml.writer import OutgoingAttachment
from hub.ports import SystemClock
from hub.routing import Scope
from hub.secrets import SecretBox, generate_key
from hub.services.base import Deps, HubConfig
from hub.services.hub import HubServices
from signing import pdf_verify
from signing.envelope_port import HubSignatureVerifier, pdf_check_from
from signing.pdf_sign import Box, PdfSigningService, SignatureRole, SignRequest
from signing.pdf_verify import PdfVerifier
from signing.trust import TrustEvaluator, TrustPolicy, TrustStore
from signing.xmldsig import EnvelopePolicy, PolicySet, SignatureVerifier
from tests.factories import make_edoc
from tests.pki import build_pki, write_key_files
from tests.unit.signing.pdf.pdfkit import make_pdf, signature_png, signer_for

SENDER = "000.00.00.H41"
RECIPIENT = "000.00.02.H41"
SYSTEM = "qlvb.ubnd"


def build(n: int) -> tuple[HubServices, list[bytes]]:
    pki = build_pki()
    files = write_key_files(pki, Path(tempfile.mkdtemp(prefix="bench-pdf-cold-")))
    store = TrustStore.from_pem(pki.anchors_pem, pki.intermediates_pem)
    policy = TrustPolicy(
        allow_network=False, prefer_ocsp=False, crl_files=(files["sub-ca.crl"], files["root.crl"])
    )
    verifier = HubSignatureVerifier(
        SignatureVerifier(store, PolicySet(default=EnvelopePolicy(trust=policy))),
        pdf_check=pdf_check_from(PdfVerifier(TrustEvaluator(store, policy))),
    )
    signer = PdfSigningService(signer_for(pki.person, [pki.sub_ca.cert]))
    box = Box(330, 150, 510, 215)
    image = signature_png()
    packages = []
    for i in range(n):
        pdf = signer.sign(
            make_pdf(1, pad_to=195_000 + i),  # distinct content, distinct signature
            SignRequest(SignatureRole.PERSON, box=box, image=image),
        )
        # Not zipped: a real PDF's streams are compressed already, a ZIP would not shrink it.
        att = OutgoingAttachment(str(i), f"vb-{i}.pdf", "application/pdf", pdf, zip=False)
        packages.append(
            make_edoc(attachments=[att], sender=SENDER, to=[RECIPIENT], code_number=f"{i + 1}")
        )
    registry = load_sample_registry()
    deps = Deps(
        MemoryStore().unit_of_work,
        MemoryBlobStore(),
        lambda: registry,
        SystemClock(),
        verifier,
        lambda: None,
    )
    config = HubConfig(organ_id="000.00.00.H41", scope=Scope.parse(["H41"]))
    hub = HubServices(deps, config, SecretBox(generate_key()))
    hub.systems.add(SYSTEM, (SENDER,), secret="bench-secret")
    return hub, packages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="distinct edocs pushed")
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="without the two cuts: asn1crypto's own name preparation, asyncio.run per PDF",
    )
    args = parser.parse_args()
    t0 = time.perf_counter()
    hub, packages = build(args.n + 1)
    if args.baseline:
        pdf_verify.asn1_x509.NameTypeAndValue._ldap_string_prep = pdf_verify._ORIGINAL_NAME_PREP  # type: ignore[method-assign]
        pdf_verify.loop = SimpleNamespace(run=asyncio.run)  # type: ignore[assignment]
    print(f"built {len(packages)} edocs in {time.perf_counter() - t0:.1f} s "
          f"(package ≈ {len(packages[0]) // 1024} KB)", flush=True)  # fmt: skip
    first = hub.push(SYSTEM, packages.pop())  # warm-up: imports, XSD, the signer's chain
    assert first.warnings == ("signature.missing",), first.warnings  # no envelope signature
    profiler = cProfile.Profile() if args.profile else None
    load = Path("/proc/loadavg").read_text().split()[:3]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for data in packages:
        result = hub.push(SYSTEM, data)
        assert not result.duplicate
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    with hub.deps.uow() as uow:
        doc = uow.documents.get(result.doc_id)
    assert doc is not None
    pdf = doc.verdicts["details"]["pdf"]["pdfs"][0]
    assert pdf["verdict"] == "valid", pdf  # the PDF was really checked, and passed
    print(
        f"{'baseline' if args.baseline else 'as built'}: n={len(packages)} "
        f"wall {wall:.2f} s → {len(packages) / wall:.1f} edocs/s; "
        f"CPU {1000 * cpu / len(packages):.2f} ms per edoc; loadavg {' '.join(load)}; "
        f"last PDF verdict: {pdf['verdict']}"
    )
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(45)
        print(out.getvalue())


if __name__ == "__main__":
    main()
