"""``lienthong conformance``: a bench for QLVB vendors' connectors.

Runs a whole hub in a test mode — a temporary embedded store, as ``lienthong demo`` does — with
two systems: the vendor's (hosting the vendor's agency; its id and secret are printed once) and
the bench's own scripted counterpart (hosting the bench's agency). The vendor points its
connector's ``service.endpoint`` at the printed URL; the bench then drives
:class:`hub.conformance.script.Script` to the end and writes ``conformance.json`` and
``conformance.html`` (:mod:`hub.conformance.report`).

Theory of operation:

* **The wire.** Every request to the façade passes a recording ASGI layer (:class:`Recorder`)
  that keeps the headers as received, the body's digests and first bytes, and the reply: the
  protocol checks (:mod:`hub.conformance.checks`) and the failed-request quotes use them.
* **The counterpart** speaks to the hub through the service contract in-process (push, inbox,
  fetch, acknowledge), not over HTTP: what the bench does is not under test.
* **The loop** (every :attr:`BenchConfig.poll_s`): ask the script what to do
  (:meth:`Script.advance` — send the next document, answer the vendor's), perform it, turn what
  changed in the hub into observations (a delivery acknowledged, a status or a document from
  the vendor, a refused request), feed them to the script. When every step has ended the
  protocol checks run and the reports are written. Each step has its own time limit, so the run
  always ends.

The bench's PDFs are signed with throw-away demo certificates (:mod:`signing.demo_material`,
marked THỬ NGHIỆM); the vendor's PDF signatures are checked for integrity and validity only
(its CA is not one the bench can trust).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import secrets
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from hub.conformance.checks import RecordedRequest, signed_params
from hub.conformance.material import (
    ANSWERS,
    Parties,
    bench_edoc,
    bench_status,
    organization,
)
from hub.conformance.report import report_dict, write_reports
from hub.conformance.script import (
    Action,
    Fetched,
    Observation,
    Refused,
    Script,
    StatusArrived,
    StatusesPulled,
    VendorEdoc,
)
from hub.edxml.model import MessageKind

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from hub.entrypoints.bootstrap import Hub

BENCH_SYSTEM = "conformance.bench"
#: Paths that are the hub's own probes, not the vendor's traffic.
_NOT_RECORDED = ("/healthz", "/readyz", "/metrics")
_EXCERPT = 1024


@dataclass(frozen=True)
class BenchConfig:
    """What one run uses. Codes must lie in the bench hub's scope (province H41)."""

    port: int = 8090
    host: str = "127.0.0.1"
    report_dir: Path = Path("conformance-report")
    vendor_agency: str = "000.00.61.H41"
    vendor_name: str = "Ủy ban nhân dân xã Hưng Nguyên"
    bench_agency: str = "000.00.02.H41"
    bench_name: str = "Sở Nội vụ tỉnh Nghệ An (bộ kiểm thử)"
    system_id: str = "qlvb.vendor"
    secret: str | None = field(default=None, repr=False)
    """The vendor system's secret; generated when not given."""
    step_limit_s: float = 300.0
    poll_s: float = 0.25
    data_dir: Path | None = None
    """Keep the hub's data here (empty or absent); a temporary directory otherwise."""


class Recorder:
    """ASGI layer keeping every request to the façade as a :class:`RecordedRequest`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self.requests)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "") in _NOT_RECORDED:
            await self.app(scope, receive, send)
            return
        at = dt.datetime.now(dt.UTC)
        chunks: list[bytes] = []
        status = 0
        reply = bytearray()

        async def recv() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def snd(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and len(reply) < 4 * _EXCERPT:
                reply.extend(message.get("body", b"")[: 4 * _EXCERPT - len(reply)])
            await send(message)

        try:
            await self.app(scope, recv, snd)
        finally:
            body = b"".join(chunks)
            less_crlf = hashlib.sha256(body[:-2]).hexdigest() if body.endswith(b"\r\n") else None
            headers = tuple(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", ())
            )
            record = RecordedRequest(
                seq=0,
                at=at,
                method=str(scope.get("method", "")),
                path=str(scope.get("path", "")),
                headers=headers,
                body_size=len(body),
                body_sha256=hashlib.sha256(body).hexdigest(),
                body_sha256_less_crlf=less_crlf,
                body_excerpt=body[:_EXCERPT].decode("utf-8", "replace"),
                status=status,
                reply_excerpt=bytes(reply).decode("utf-8", "replace"),
                signed=signed_params(headers),
            )
            with self._lock:
                self.requests.append(_renumbered(record, len(self.requests) + 1))


def _renumbered(record: RecordedRequest, seq: int) -> RecordedRequest:
    from dataclasses import replace

    return replace(record, seq=seq)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ConformanceBench:
    """One run: :meth:`start` serves the hub, :meth:`run` drives the script, :meth:`stop`."""

    def __init__(self, config: BenchConfig, out: TextIO = sys.stdout) -> None:
        self.config = config
        self.out = out
        self.port = config.port or _free_port()
        self.secret = config.secret or secrets.token_urlsafe(24)
        self.parties = Parties(
            organization(config.bench_agency, config.bench_name),
            organization(config.vendor_agency, config.vendor_name),
        )
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.hub: Hub | None = None
        self.recorder: Recorder | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()
        self._error: BaseException | None = None
        self._signed_pdf = b""
        # What the bench sent and saw.
        self._sent: dict[str, tuple[str, str]] = {}  # ref → (hub doc id, DocumentId)
        self._document_refs: dict[str, str] = {}  # DocumentId → ref
        self._seen_requests = 0
        self._vendor_document: str | None = None
        self._answers: list[str] = []  # hub doc ids of the bench's statuses

    @property
    def endpoint(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    # -- set-up -------------------------------------------------------------------------------

    def start(self) -> None:
        """Build the hub, register both systems, sign the bench's PDF, serve on the port."""
        from hub.entrypoints.bootstrap import build_hub
        from hub.ports import NullVerifier
        from hub.settings import load_settings
        from signing.demo_material import make_demo_pki, make_pdf, sign_demo_pdf

        if self.config.data_dir is not None:
            work = self.config.data_dir.resolve()
            work.mkdir(parents=True, exist_ok=True)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="lienthong-conformance-")
            work = Path(self._tmp.name)
        pki = make_demo_pki(
            work / "pki",
            agency_name=self.config.bench_name,
            agency_code=self.config.bench_agency,
            person_name="Nguyễn Văn Bình",
            person_title="Chủ tịch",
        )
        self._signed_pdf = sign_demo_pdf(
            pki,
            make_pdf(("UY BAN NHAN DAN - BO KIEM THU LIEN THONG", "Van ban thu nghiem")),
            agency_name=self.config.bench_name,
        )
        settings_file = work / "settings.yaml"
        settings_file.write_text(
            "# lienthong conformance: generated\n"
            "hub:\n"
            '  organ_id: "000.00.00.H41"\n'
            '  name: "Trục kiểm thử kết nối liên thông"\n'
            '  scope: ["H41"]\n'
            "signatures:\n"
            "  verify: false\n",
            encoding="utf-8",
        )
        settings = load_settings(settings_file, env={"LIENTHONG_DATA_DIR": str(work / "data")})
        self.hub = build_hub(settings, verifier=NullVerifier(), links={})
        systems = self.hub.services.systems
        systems.add(
            self.config.system_id,
            [self.config.vendor_agency],
            name=f"QLVB {self.config.vendor_name}",
            secret=self.secret,
        )
        systems.add(
            BENCH_SYSTEM,
            [self.config.bench_agency],
            name="bộ kiểm thử",
            secret=secrets.token_urlsafe(24),
        )
        self.recorder = Recorder(self.hub.app())
        self._thread = threading.Thread(target=self._serve, name="conformance-hub", daemon=True)
        self._thread.start()
        self._wait_healthy()

    def _serve(self) -> None:
        import uvicorn

        assert self.hub is not None
        assert self.recorder is not None
        hub, recorder = self.hub, self.recorder

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await hub.start_workers()
            server = uvicorn.Server(
                uvicorn.Config(
                    recorder,
                    host=self.config.host,
                    port=self.port,
                    log_level="warning",
                    access_log=False,
                    lifespan="off",
                    timeout_keep_alive=15,
                )
            )
            stop = self._stop

            async def watch() -> None:
                await stop.wait()
                server.should_exit = True

            watcher = asyncio.create_task(watch())
            self._serving.set()
            try:
                await server.serve()
            finally:
                watcher.cancel()
                await hub.stop()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the caller's thread
            self._error = exc
        finally:
            self._serving.set()

    def _wait_healthy(self, timeout: float = 30.0) -> None:
        import httpx

        self._serving.wait(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._error is None:
            try:
                if httpx.get(f"{self.endpoint}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        if self._error is not None:
            raise self._error
        raise TimeoutError(f"the bench hub did not start on {self.endpoint}")

    def stop(self) -> None:
        """Stop serving and release the store (and the temporary directory)."""
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.hub is not None:
            self.hub.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Drive the script to its end; write and return the report."""
        script = Script.build(dt.timedelta(seconds=self.config.step_limit_s))
        started = dt.datetime.now(dt.UTC)
        while not script.behaviour_done:
            now = dt.datetime.now(dt.UTC)
            for action in script.advance(now):
                self._perform(action, now)
            for event in self._observe():
                script.observe(event, dt.datetime.now(dt.UTC))
            if not script.behaviour_done:
                time.sleep(self.config.poll_s)
        assert self.recorder is not None
        requests = self.recorder.snapshot()
        script.finish(requests)
        facts = {
            "endpoint": self.endpoint,
            "system_id": self.config.system_id,
            "vendor_agency": self.config.vendor_agency,
            "bench_agency": self.config.bench_agency,
            "requests": len(requests),
        }
        report = report_dict(script, started=started, ended=dt.datetime.now(dt.UTC), facts=facts)
        write_reports(report, self.config.report_dir)
        return report

    def _perform(self, action: Action, now: dt.datetime) -> None:
        assert self.hub is not None
        service = self.hub.services
        if action.kind == "send":
            original = self._sent.get("new", ("", None))[1]
            with_pdf = action.ref in ("new", "replace")
            document_id, data = bench_edoc(
                self.parties,
                action.ref,
                now=now,
                run=f"{now:%H%M%S}",
                signed_pdf=self._signed_pdf if with_pdf else None,
                original_id=original,
            )
            result = service.push(BENCH_SYSTEM, data, declared_from=self.config.bench_agency)
            self._sent[action.ref] = (result.doc_id, document_id)
            self._document_refs[document_id] = action.ref
            self._say(f"→ {action.ref}: {document_id} ({len(data):,} B)")
        elif action.kind == "answer" and self._vendor_document is not None:
            for code, description in ANSWERS:
                data = bench_status(
                    self.parties, code, description, about=self._vendor_document, now=now
                )
                result = service.push(BENCH_SYSTEM, data, declared_from=self.config.bench_agency)
                self._answers.append(result.doc_id)
                self._say(f"→ status {code} for {self._vendor_document}")

    def _observe(self) -> list[Observation]:
        assert self.hub is not None
        assert self.recorder is not None
        service = self.hub.services
        events: list[Observation] = []
        requests = self.recorder.snapshot()
        by_doc_id = {r.reply.get("DocId"): r for r in requests if r.operation == "sendEdoc"}
        for r in requests[self._seen_requests :]:
            if r.failed:
                events.append(Refused(r))
        self._seen_requests = len(requests)
        for ref, (doc_id, _) in self._sent.items():
            rows = service.list_sent(BENCH_SYSTEM, doc_id)
            if rows and all(row.send_status == "done" for row in rows):
                events.append(Fetched(ref))
        for item in service.list_received(BENCH_SYSTEM, MessageKind.STATUS):
            events.extend(self._status_item(item.delivery_id, by_doc_id.get(item.doc_id)))
        for item in service.list_received(BENCH_SYSTEM, MessageKind.EDOC):
            events.append(
                self._vendor_edoc(item.delivery_id, item.doc_id, by_doc_id.get(item.doc_id))
            )
        if self._answers:
            pulled = sum(
                1
                for doc_id in self._answers
                for row in service.list_sent(BENCH_SYSTEM, doc_id)
                if row.send_status == "done"
            )
            events.append(StatusesPulled(pulled))
        return events

    def _status_item(self, delivery_id: str, request: RecordedRequest | None) -> list[Observation]:
        from hub.edxml import read
        from hub.edxml.model import StatusPackage
        from hub.errors import HubError
        from hub.services.contracts import TransportStatus

        assert self.hub is not None
        service = self.hub.services
        fetched = service.fetch(BENCH_SYSTEM, delivery_id)
        out: list[Observation] = []
        try:
            status = read(fetched.data)
        except HubError:
            status = None
        if isinstance(status, StatusPackage):
            about = status.header.response_for.document_id if status.header.response_for else None
            ref = self._document_refs.get(about or "")
            if ref is not None and status.header.status_code:
                out.append(StatusArrived(ref, status.header.status_code, request))
                self._say(f"← status {status.header.status_code} for {ref}")
        service.update_status(BENCH_SYSTEM, delivery_id, TransportStatus.DONE)
        return out

    def _vendor_edoc(
        self, delivery_id: str, doc_id: str, request: RecordedRequest | None
    ) -> Observation:
        from hub.edxml import iter_attachments, read
        from hub.edxml.model import EdocPackage
        from hub.errors import HubError
        from hub.services.contracts import TransportStatus

        assert self.hub is not None
        service = self.hub.services
        service.fetch(BENCH_SYSTEM, delivery_id)
        # Checked on the bytes as the vendor sent them (the relayed copy has our TraceHeader).
        with self.hub.uow() as uow:
            row = uow.documents.get(doc_id)
        data = self.hub.blobs.get(row.digest) if row is not None else b""
        problems: list[str] = []
        try:
            package = read(data)
            if isinstance(package, EdocPackage):
                self._vendor_document = package.document_id
                problems.extend(envelope_problems(data, package.header.from_.organ_id))
            for extracted in iter_attachments(data):
                with extracted:
                    content = extracted.read_bytes()
                if content.startswith(b"%PDF"):
                    problems.extend(pdf_problems(extracted.attachment_name or "?", content))
        except HubError as exc:
            problems.append(f"{exc.code}: {exc.message_en}")
        service.update_status(BENCH_SYSTEM, delivery_id, TransportStatus.DONE)
        self._say(f"← document {self._vendor_document}: {'; '.join(problems) or 'ok'}")
        return VendorEdoc(tuple(problems), request)

    def _say(self, text: str) -> None:
        self.out.write(f"  {dt.datetime.now():%H:%M:%S} {text}\n")
        self.out.flush()


def pdf_problems(name: str, pdf: bytes) -> list[str]:
    """Integrity and validity of every signature of ``pdf`` (trust is not judged: the vendor's
    CA is not one the bench knows)."""
    from signing.pdf_verify import PdfVerifier
    from signing.trust import TrustEvaluator, TrustPolicy, TrustStore

    verifier = PdfVerifier(TrustEvaluator(TrustStore(()), TrustPolicy(check_revocation=False)))
    verdict = verifier.verify(pdf)
    if any(p.code == "pdf.unreadable" for p in verdict.problems):
        return [f"{name}: unreadable PDF"]
    return [
        f"{name}: signature {s.field_name} is not intact and valid"
        for s in verdict.signatures
        if not (s.intact and s.valid) or s.modified_after_signing
    ]


def envelope_problems(data: bytes, sender: str) -> list[str]:
    """A broken envelope XML-DSig (digest or signature value wrong, weak algorithm). An absent
    signature, or the SDK's edXML-namespace look-alike, is not judged here; nor is trust."""
    from signing.trust import TrustPolicy, TrustStore
    from signing.verdicts import EnvelopeStatus
    from signing.xmldsig import EnvelopePolicy, PolicySet, SignatureVerifier

    verifier = SignatureVerifier(
        TrustStore(()), PolicySet(default=EnvelopePolicy(trust=TrustPolicy(check_revocation=False)))
    )
    verdict = verifier.verify_envelope(data, sender)
    broken = (
        EnvelopeStatus.DIGEST_MISMATCH,
        EnvelopeStatus.BAD_SIGNATURE,
        EnvelopeStatus.WEAK_ALGORITHM,
    )
    if verdict.status in broken:
        return [f"envelope signature {verdict.status.value}: {verdict.problem_en}"]
    return []


# -- the command ----------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "conformance",
        help="bench a QLVB vendor's connector against a test hub (report in HTML and JSON)",
    )
    p.add_argument("--port", type=int, default=8090, help="port to serve on (default 8090)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    p.add_argument("--report", type=Path, default=Path("conformance-report"), help="report dir")
    p.add_argument("--agency", default=BenchConfig.vendor_agency, help="the vendor's agency code")
    p.add_argument("--system-id", default=BenchConfig.system_id, help="the vendor's system id")
    p.add_argument(
        "--step-timeout", type=float, default=300.0, help="seconds per step (default 300)"
    )
    p.add_argument("--keep", type=Path, default=None, help="keep the hub's data in this dir")
    p.set_defaults(handler=_cmd)


def _cmd(args: argparse.Namespace) -> int:
    config = BenchConfig(
        port=args.port,
        host=args.host,
        report_dir=args.report,
        vendor_agency=args.agency,
        system_id=args.system_id,
        step_limit_s=args.step_timeout,
        data_dir=args.keep,
    )
    bench = ConformanceBench(config)
    bench.start()
    try:
        print(f"service.endpoint = {bench.endpoint}")
        print(f"system id        = {config.system_id}   (agency {config.vendor_agency})")
        print(f"secret           = {bench.secret}   (printed once)")
        print(
            f"bench agency     = {config.bench_agency}; each step waits ≤ {args.step_timeout:g} s"
        )
        report = bench.run()
    finally:
        bench.stop()
    for item in (*report["steps"], *report["checks"]):
        reason = item["reason_vi"] if args.lang == "vi" else item["reason_en"]
        print(f"{item['outcome']:>9}  {item['id']:<28} {reason}")
    print(f"report: {config.report_dir / 'conformance.html'}")
    return 0 if report["passed"] else 1
