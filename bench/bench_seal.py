"""Agency-seal throughput: :class:`signing.seal_service.SealService` with a SoftHSM2 key.

Run from the repository root::

    . .venv/bin/activate && python -m bench.bench_seal [--seconds 5]

What is measured (medians of per-operation wall time, one thread, everything in-process):

* ``service``: :meth:`SealService.seal` of a person-signed PDF — verification of the person's
  signature (the verdict cache cleared before each call: every PDF a clerk seals is new),
  then the agency signature with the key on a SoftHSM2 token, from the key pool (the token
  session stays open). The hosted set and the audit sink are in memory. B-B; and B-T with an
  in-process RFC 3161 stamper (no HTTP: the TSA's own latency is not ours).
* ``http``: ``POST /api/v1/sign/seal`` through the ASGI app (``TestClient``) of a hub on a
  temporary SQLite store — HMAC authentication, the hosted-set read and the audit row written
  in their own transactions, as in production on the embedded defaults. The client's own work
  (signing each request, httpx, the test transport) runs in the same process and is counted.
* ``http, server only``: the same app behind uvicorn on a loopback port in this process, the
  client in another process (``--client``): the CPU column is the server's alone — what one
  core of a hub gives. The verifier caches nothing there (``cache_size=0``), so every request
  is verified afresh although the client sends one PDF.

Certificates come from the generated test PKI (:mod:`tests.pki`); revocation from the sub-CA's
CRL file (no network).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.bench_pdf import softhsm_service
from hub.vxp.wire import format_timestamp, sign_headers
from signing.keys import PIN_ENV
from signing.pdf_sign import Box, PdfSigningService, SignatureRole, SignRequest
from signing.pdf_verify import PdfVerifier, PdfVerifyPolicy
from signing.seal_service import SealKeyConfig, SealKeyPool, SealService
from signing.trust import TrustEvaluator, TrustPolicy, TrustStore
from tests.pki import AGENCY_CODE, build_pki, write_key_files
from tests.tsa import TsaServer
from tests.unit.signing.pdf.pdfkit import make_pdf, seal_png, signature_png, signer_for

SYSTEM, SECRET = "bench.system", "bench-secret-0f3a"
PIN = "112233"  # bench_pdf.softhsm_service's token PIN


def measure(label: str, fn: Callable[[], object], seconds: float) -> None:
    """Print one row: runs, median wall ms, and CPU ms per run (this process, every thread).

    On a shared machine the wall time depends on what else runs; the CPU time per seal does
    not (much), and its inverse is the throughput one core gives."""
    fn()  # warm-up
    times: list[float] = []
    cpu0, end = time.process_time(), time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / len(times)
    med = statistics.median(times)
    print(
        f"| {label} | {len(times)} | {med * 1000:.1f} | {1 / med:.1f} | {cpu * 1000:.1f} "
        f"| **{1 / cpu:.1f}** |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    parser.add_argument("--client", nargs=2, metavar=("URL", "PDF"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    s = args.seconds
    if args.client:
        _client(args.client[0], Path(args.client[1]), s)
        return

    pki = build_pki()
    work = Path(tempfile.mkdtemp(prefix="bench-seal-"))
    files = write_key_files(pki, work)
    store = TrustStore.from_pem(pki.anchors_pem, pki.intermediates_pem)
    policy = TrustPolicy(
        allow_network=False,
        prefer_ocsp=False,
        crl_files=(files["sub-ca.crl"], files["root.crl"]),  # the leaf and the sub-CA
    )
    verifier = PdfVerifier(TrustEvaluator(store, policy))
    if softhsm_service(pki, work / "softhsm") is None:
        raise SystemExit("SoftHSM2 is needed (apt-get install softhsm2)")
    image = work / "seal.png"
    image.write_bytes(seal_png())
    key = SealKeyConfig(
        AGENCY_CODE, "pkcs11:token=bench;object=agency", seal_image=image, pool_size=1
    )
    env = {PIN_ENV: PIN}
    audit: list[object] = []

    def service(timestamper: object | None = None) -> SealService:
        return SealService(
            SealKeyPool([key], timestamper=timestamper, env=env),
            verifier,
            hosts=lambda system: (AGENCY_CODE,),
            audit=audit.append,
        )

    person = PdfSigningService(signer_for(pki.person, [pki.sub_ca.cert]))
    box = Box(330, 150, 510, 215)

    def person_signed(pad_to: int) -> bytes:
        return person.sign(
            make_pdf(1, pad_to=pad_to),
            SignRequest(SignatureRole.PERSON, box=box, image=signature_png()),
        )

    small, large = person_signed(20_000), person_signed(200_000)
    print(f"PDF sizes (person-signed): {len(small)} B and {len(large)} B")
    print(f"load average before: {os.getloadavg()}")
    print()
    print("| measurement | runs | median wall ms | per second (wall) | CPU ms | per CPU second |")
    print("|---|---:|---:|---:|---:|---:|")

    def seal_fresh(sealer: SealService, pdf: bytes) -> object:
        verifier.clear()
        return sealer.seal(SYSTEM, AGENCY_CODE, pdf)

    b_b = service()
    measure("seal 33 KB PDF, SoftHSM2 key, B-B (service)", lambda: seal_fresh(b_b, small), s)
    measure("seal 213 KB PDF, SoftHSM2 key, B-B (service)", lambda: seal_fresh(b_b, large), s)
    stamper = TsaServer((pki.root.cert, pki.root.key))._stamper
    b_t = service(stamper)
    measure(
        "seal 33 KB PDF, SoftHSM2 key, B-T, in-process TSA (service)",
        lambda: seal_fresh(b_t, small),
        s,
    )
    _http(work, b_b, verifier, small, s)
    b_b.keys.close()
    b_t.keys.close()
    print(f"\nload average after: {os.getloadavg()}")


def _http(work: Path, sealer: SealService, verifier: PdfVerifier, pdf: bytes, s: float) -> None:
    from fastapi.testclient import TestClient

    from adapters.http.app import create_app
    from hub.entrypoints.bootstrap import build_hub
    from hub.entrypoints.seal import build_seal_service
    from hub.ports import NullVerifier
    from hub.settings import load_settings

    hub = build_hub(
        load_settings(env={"LIENTHONG_DATA_DIR": str(work / "hub")}),
        verifier=NullVerifier(),
        links={},
    )
    hub.services.systems.add(SYSTEM, [AGENCY_CODE], secret=SECRET)
    served = build_seal_service(
        hub.uow, [sealer.keys.slot(AGENCY_CODE).config], verifier, env={PIN_ENV: PIN}
    )
    path = f"/api/v1/sign/seal?agency={AGENCY_CODE}"
    digest = hashlib.sha256(pdf).hexdigest()
    with TestClient(create_app(hub.services, sealer=served)) as client:

        def post() -> object:
            verifier.clear()
            r = client.post(path, headers=_signed(path, digest), content=pdf)
            assert r.status_code == 200, r.text
            return r

        measure("seal 33 KB PDF over HTTP (ASGI app, SQLite hub, audit row)", post, s)
    served.keys.close()
    uncached = PdfVerifier(verifier.trust, PdfVerifyPolicy(cache_size=0))
    served = build_seal_service(
        hub.uow, [sealer.keys.slot(AGENCY_CODE).config], uncached, env={PIN_ENV: PIN}
    )
    _server_only(work, create_app(hub.services, sealer=served), pdf, s)
    served.keys.close()
    hub.close()


def _signed(path: str, digest: str) -> list[tuple[str, str]]:
    return sign_headers(
        system_id=SYSTEM,
        secret=SECRET,
        timestamp=format_timestamp(dt.datetime.now(dt.UTC)),
        content_type="application/pdf",
        params={"method": "POST", "path": path},
        hash_file=digest,
    )


def _server_only(work: Path, app: Any, pdf: bytes, s: float) -> None:
    """Serve ``app`` with uvicorn in this process, post from a client process, and count this
    process's CPU (the server's: the event loop and its worker threads) per seal."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    (work / "seal-in.pdf").write_bytes(pdf)
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "bench.bench_seal", "--seconds", str(s)]
    cmd += ["--client", url, str(work / "seal-in.pdf")]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    server.should_exit = True
    thread.join(timeout=10)
    runs = int(done.stdout.split()[0])
    median_ms = float(done.stdout.split()[1])
    print(
        f"| seal 33 KB PDF over HTTP, uvicorn, server CPU only (client in another process) "
        f"| {runs} | {median_ms:.1f} | {runs / wall:.1f} | {cpu / runs * 1000:.1f} "
        f"| **{runs / cpu:.1f}** |",
        flush=True,
    )


def _client(url: str, pdf_path: Path, s: float) -> None:
    """The client of :func:`_server_only`: sequential seals for ``s`` seconds; prints the
    number of seals and the median wall milliseconds."""
    import httpx

    pdf = pdf_path.read_bytes()
    path = f"/api/v1/sign/seal?agency={AGENCY_CODE}"
    digest = hashlib.sha256(pdf).hexdigest()
    times: list[float] = []
    with httpx.Client(base_url=url, timeout=60) as client:
        end = time.perf_counter() + s
        while time.perf_counter() < end or len(times) < 5:
            t0 = time.perf_counter()
            r = client.post(path, headers=_signed(path, digest), content=pdf)
            times.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise SystemExit(f"seal refused: {r.status_code} {r.text[:300]}")
    print(len(times), statistics.median(times) * 1000)


if __name__ == "__main__":
    main()
