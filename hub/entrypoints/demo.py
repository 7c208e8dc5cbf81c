"""``lienthong demo``: a whole hub on a temporary embedded store, and one signed document
going through it over real HTTP.

What it does, in order (each step checks its own outcome; the exit status is 0 only when every
step succeeded, and a failed step says what it expected):

1. generate throw-away signing material (:mod:`signing.demo_material`): a demo root CA marked
   THỬ NGHIỆM, a person and an agency certificate of the commune, and the root's CRL, published
   on 127.0.0.1 (the hub's trust policy requires revocation data before it says "trusted");
2. write a small settings file trusting that root (``signatures.trust_anchors``, revocation
   fetched from the loopback CRL) and build a hub on SQLite + the embedded broker in a temp data
   dir (or ``--keep DIR``); register two systems: the QLVB of *UBND xã Hưng Nguyên*
   (``000.00.61.H41``) and the QLVB of *Sở Nội vụ* (``000.00.02.H41``);
3. serve it (VXP façade + workers) on an ephemeral port, in a thread with its own event loop;
4. as the commune: sign a one-page PDF twice (person, then agency seal — Nghị định 30/2020
   Phụ lục I), wrap it in an edXML package, sign the envelope (XML-DSig) and ``sendEdoc``;
5. as the department: ``getReceivedEdocList`` → ``getEdoc`` (the PDF arrives byte-identical) →
   ``updateStatus done``; then ``sendEdoc`` three status packages 01, 03, 06 (QCVN 102 §5);
6. as the commune: pull and acknowledge the statuses; ``getSentEdocList`` shows the last one;
7. print the verdicts the hub stored and the document's timeline.

The agency systems are :class:`adapters.vxp_client.VxpClient`, which speaks the SDK's wire
protocol byte for byte: the same path as a real QLVB. Output in Vietnamese (``--lang en``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import secrets
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from hub.edxml.model import (
    VN_TZ,
    Bussiness,
    BussinessDocType,
    Code,
    DocumentType,
    EdocHeader,
    EdocPackage,
    EdxmlDate,
    EdxmlTimestamp,
    MessageKind,
    Organization,
    OtherInfo,
    PromulgationInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusHeader,
    StatusPackage,
    TraceHeader,
    TraceHeaderList,
)
from hub.edxml.reader import format_date, format_timestamp

if TYPE_CHECKING:
    from adapters.vxp_client import VxpClient
    from hub.entrypoints.bootstrap import Hub
    from signing.demo_material import CrlServer, DemoPki

COMMUNE = "000.00.61.H41"
COMMUNE_NAME = "Ủy ban nhân dân xã Hưng Nguyên"
COMMUNE_SYSTEM = "qlvb.xa-hung-nguyen"
DEPARTMENT = "000.00.02.H41"
DEPARTMENT_NAME = "Sở Nội vụ tỉnh Nghệ An"
DEPARTMENT_SYSTEM = "qlvb.so-noi-vu"
HUB_ORGAN_ID = "000.00.00.H41"
SIGNER_NAME = "Nguyễn Văn Bình"
SIGNER_TITLE = "Chủ tịch"
CODE_NUMBER = "125"
CODE_NOTATION = "UBND-VP"
#: Business statuses the department sends back (QCVN 102:2016 §5, edxml.md §5).
STATUSES = (
    ("01", "Đã đến - Phần mềm QLVB đã nhận", "arrived"),
    ("03", "Đã tiếp nhận - văn thư đã vào sổ", "accepted"),
    ("06", "Hoàn thành - đã xử lý xong", "completed"),
)
#: How long a step may wait for the workers (dispatch is sub-second; the broker polls at 0.5 s).
WAIT_S = 20.0
#: The letter's text (the PDF's standard font has no Vietnamese letters: ASCII only).
LETTER_LINES = (
    "UY BAN NHAN DAN XA HUNG NGUYEN",
    f"So: {CODE_NUMBER}/{CODE_NOTATION}",
    "",
    "V/v bao cao ket qua sap xep to chuc bo may",
    "",
    "Kinh gui: So Noi vu tinh Nghe An",
    "(lienthong demo - van ban thu nghiem)",
)


class DemoFailed(Exception):
    """A step's outcome was not the expected one (the message says which)."""


class _Out:
    """The timeline printer: numbered steps, indented facts, one language."""

    def __init__(self, out: TextIO, lang: str) -> None:
        self.out = out
        self.lang = lang
        self.started = time.monotonic()
        self.steps = 0

    def t(self, vi: str, en: str | None = None) -> str:
        return en if self.lang == "en" and en is not None else vi

    def write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def step(self, vi: str, en: str | None = None) -> None:
        self.steps += 1
        elapsed = time.monotonic() - self.started
        self.write(f"[{elapsed:6.2f}s] {self.steps:2d}. {self.t(vi, en)}\n")

    def fact(self, vi: str, en: str | None = None) -> None:
        self.write(f"             {self.t(vi, en)}\n")

    def check(self, ok: bool, vi: str, en: str) -> None:
        """Print a fact that must hold; raise :class:`DemoFailed` when it does not."""
        self.write(f"             {'✔' if ok else '✘'} {self.t(vi, en)}\n")
        if not ok:
            raise DemoFailed(self.t(vi, en))


def _wait(probe: Callable[[], bool], timeout: float = WAIT_S, every: float = 0.1) -> None:
    """Call ``probe`` until it answers true or ``timeout`` passes (the caller checks after)."""
    deadline = time.monotonic() + timeout
    while not probe() and time.monotonic() < deadline:
        time.sleep(every)


def _free_port() -> int:
    # ``bootstrap.serve`` takes a port, not a bound socket: ask the kernel for a free one. The
    # window between closing it here and uvicorn binding it is tiny on a loopback interface.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """The hub's API and workers in a background thread with its own event loop."""

    def __init__(self, hub: Hub, port: int) -> None:
        self.hub = hub
        self.port = port
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="demo-hub", daemon=True)

    def _run(self) -> None:
        from hub.entrypoints.bootstrap import serve

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop_event = asyncio.Event()
            self.ready.set()
            await serve(self.hub, "127.0.0.1", self.port, workers=True, stop=self.stop_event)

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            self.ready.set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import httpx

        self.thread.start()
        self.ready.wait(WAIT_S)

        def healthy() -> bool:
            if self.error is not None:
                return True  # stop waiting: reported below
            try:
                return httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(healthy, every=0.05)
        if self.error is not None:
            raise self.error

    def stop(self) -> bool:
        """Ask the server to stop and wait for it; True when it stopped in time."""
        if self.thread.ident is None:  # never started: only the store to release
            self.hub.close()
            return True
        if self.loop is not None and self.stop_event is not None and self.thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(timeout=30)
        return not self.thread.is_alive()


# ------------------------------------------------------------------------------- packages


def _org(code: str, name: str, email: str) -> Organization:
    return Organization(
        organ_id=code,
        organ_name=name,
        organization_in_charge=name,
        organ_add="Nghệ An",
        email=email,
        telephone="0238 3844 000",
    )


COMMUNE_ORG = _org(COMMUNE, COMMUNE_NAME, "xahungnguyen@nghean.gov.vn")
DEPARTMENT_ORG = _org(DEPARTMENT, DEPARTMENT_NAME, "sonoivu@nghean.gov.vn")


def _ts(when: dt.datetime) -> EdxmlTimestamp:
    return EdxmlTimestamp(format_timestamp(when), when.astimezone(dt.UTC))


@dataclass(frozen=True, slots=True)
class DemoLetter:
    """The letter a demo sends and the statuses that answer it (both demos build theirs here)."""

    sender: Organization
    recipient: Organization
    number: str
    notation: str
    place: str
    """Where it is promulgated (``PromulgationInfo/Place``)."""
    subject: str
    signer_title: str
    signer_name: str
    clerk: StaffInfo
    """The sender's clerk (``Bussiness/StaffInfo``)."""
    answering_clerk: StaffInfo
    """The recipient's clerk who sends the statuses."""

    def document_id(self, day: dt.date) -> str:
        """``<sender>,<date>,<number>/<notation>`` (QCVN 102 §2)."""
        return f"{self.sender.organ_id},{format_date(day)},{self.number}/{self.notation}"

    def edoc(self, now: dt.datetime) -> EdocPackage:
        """The letter as a new document (QCVN 102 §2), promulgated and traced at ``now``."""
        today = now.date()
        document_id = self.document_id(today)
        promulgated = EdxmlDate(format_date(today), today)
        return EdocPackage(
            header=EdocHeader(
                from_=self.sender,
                to=(self.recipient,),
                document_id=document_id,
                code=Code(self.number, self.notation),
                promulgation_info=PromulgationInfo(self.place, promulgated),
                document_type=DocumentType(1, 0, "Công văn", "1"),
                subject=self.subject,
                signer_info=SignerInfo("TM. ỦY BAN NHÂN DÂN", self.signer_title, self.signer_name),
                to_places=("Như trên", "Lưu: VT"),
                other_info=OtherInfo(priority=0, promulgation_amount=1, page_amount=1),
            ),
            trace=TraceHeaderList(
                (TraceHeader(self.sender.organ_id, _ts(now)),),
                Bussiness(
                    document_id=document_id,
                    doc_type=BussinessDocType.NEW,
                    doc_type_raw="0",
                    reason="Văn bản điện tử mới",
                    paper=0,
                    staff_info=self.clerk,
                ),
            ),
        )

    def status(self, code: str, description: str, day: dt.date) -> StatusPackage:
        """The recipient's business status about the letter promulgated on ``day`` (QCVN 102
        §5), stamped now."""
        return StatusPackage(
            header=StatusHeader(
                from_=self.recipient,
                response_for=ResponseFor(
                    organ_id=self.sender.organ_id,
                    code=f"{self.number}/{self.notation}",
                    promulgation_date=EdxmlDate(format_date(day), day),
                    document_id=self.document_id(day),
                ),
                staff_info=self.answering_clerk,
                status_code=code,
                description=description,
                timestamp=_ts(dt.datetime.now(VN_TZ)),
            )
        )


LETTER = DemoLetter(
    sender=COMMUNE_ORG,
    recipient=DEPARTMENT_ORG,
    number=CODE_NUMBER,
    notation=CODE_NOTATION,
    place="Hưng Nguyên",
    subject="V/v báo cáo kết quả sắp xếp tổ chức bộ máy sau hợp nhất xã",
    signer_title=SIGNER_TITLE,
    signer_name=SIGNER_NAME,
    clerk=StaffInfo("Văn phòng", "Lê Thị Hoa", "vanthu@hungnguyen.gov.vn", None),
    answering_clerk=StaffInfo("Văn thư", "Trần Thị Bích", "vanthu@sonoivu.gov.vn", None),
)


# ------------------------------------------------------------------------------- the run


def _settings_file(work: Path, pki: DemoPki) -> Path:
    """The demo's settings: the defaults, this province, and trust in the demo root only."""
    path = work / "settings.yaml"
    path.write_text(
        "# lienthong demo: generated; the trust anchor is a throw-away test root.\n"
        "hub:\n"
        f'  organ_id: "{HUB_ORGAN_ID}"\n'
        '  name: "Trục liên thông văn bản tỉnh Nghệ An (demo)"\n'
        '  scope: ["H41"]\n'
        "signatures:\n"
        "  verify: true\n"
        f'  trust_anchors: ["{pki.anchors}"]\n'
        "  network: true   # the demo CRL is served on 127.0.0.1\n",
        encoding="utf-8",
    )
    return path


def run_demo(keep: Path | None, lang: str, out: TextIO) -> int:
    """Run the demo (module docstring); 0 when every step succeeded, 1 otherwise.

    ``keep``: keep the data (database, blobs, keys, settings, the signed PDF) in that directory,
    which must be empty or absent; ``None``: a temporary directory removed at the end.
    """
    o = _Out(out, lang)
    if keep is not None:
        keep = keep.resolve()
        if keep.exists() and any(keep.iterdir()):
            o.write(
                o.t(
                    f"lienthong demo: thư mục {keep} không trống; hãy chỉ một thư mục mới\n",
                    f"lienthong demo: {keep} is not empty; give a new directory\n",
                )
            )
            return 2
        keep.mkdir(parents=True, exist_ok=True)
        return _run(keep, o)
    with tempfile.TemporaryDirectory(prefix="lienthong-demo-") as tmp:
        return _run(Path(tmp), o)


def _run(work: Path, o: _Out) -> int:
    from signing.demo_material import CrlServer

    o.write(
        o.t(
            "lienthong demo — một văn bản ký số đi qua trục liên thông (QCVN 102:2016)\n",
            "lienthong demo — a signed document through the hub (QCVN 102:2016)\n",
        )
    )
    crl = CrlServer().start()
    try:
        _scenario(work, o, crl)
    except DemoFailed as exc:
        o.write(o.t(f"\nTHẤT BẠI: {exc}\n", f"\nFAILED: {exc}\n"))
        return 1
    except Exception as exc:
        o.write(
            o.t(
                f"\nTHẤT BẠI (lỗi không mong đợi): {type(exc).__name__}: {exc}\n",
                f"\nFAILED (unexpected error): {type(exc).__name__}: {exc}\n",
            )
        )
        traceback.print_exc(file=o.out)
        return 1
    finally:
        crl.stop()
    took = time.monotonic() - o.started
    o.write(
        o.t(
            f"\nThành công: mọi bước đều đạt ({took:.1f} s).\n",
            f"\nSuccess: every step passed ({took:.1f} s).\n",
        )
    )
    return 0


def _scenario(work: Path, o: _Out, crl: CrlServer) -> None:
    from adapters.vxp_client import VxpClient
    from hub.entrypoints.bootstrap import build_hub
    from hub.settings import load_settings
    from signing.demo_material import make_demo_pki

    o.step("Tạo chứng thư số thử nghiệm (CA gốc THỬ NGHIỆM)", "Demo certificates (TEST root CA)")
    pki = make_demo_pki(
        work / "pki",
        agency_name=COMMUNE_NAME,
        agency_code=COMMUNE,
        person_name=SIGNER_NAME,
        person_title=SIGNER_TITLE,
        crl_url=crl.url,
    )
    crl.publish(pki.crl_der)
    o.fact(
        f"cá nhân: {SIGNER_NAME}; tổ chức: {COMMUNE_NAME} ({COMMUNE}); CRL: {crl.url}",
        f"person: {SIGNER_NAME}; agency: {COMMUNE_NAME} ({COMMUNE}); CRL: {crl.url}",
    )

    o.step("Khởi động trục (SQLite + hàng đợi nhúng)", "Start the hub (SQLite + embedded broker)")
    settings = load_settings(
        _settings_file(work, pki), env={"LIENTHONG_DATA_DIR": str(work / "data")}
    )
    hub = build_hub(settings)
    server = _Server(hub, _free_port())
    secrets_by_system = {}
    try:
        for system_id, code, name in (
            (COMMUNE_SYSTEM, COMMUNE, f"QLVB {COMMUNE_NAME}"),
            (DEPARTMENT_SYSTEM, DEPARTMENT, f"QLVB {DEPARTMENT_NAME}"),
        ):
            secrets_by_system[system_id] = hub.services.systems.add(
                system_id, [code], name=name, secret=secrets.token_urlsafe(24)
            )
            o.fact(f"hệ thống {system_id} ↔ {code}", f"system {system_id} ↔ {code}")
        server.start()
        o.fact(f"VXP: {server.base_url}/  (dữ liệu: {work})", f"VXP: {server.base_url}/ ({work})")
        url, keys = server.base_url, secrets_by_system
        with (
            VxpClient(url, COMMUNE_SYSTEM, keys[COMMUNE_SYSTEM]) as c,
            VxpClient(url, DEPARTMENT_SYSTEM, keys[DEPARTMENT_SYSTEM]) as d,
        ):
            _exchange(hub, o, pki, work, c, d)
    finally:
        stopped = server.stop()
    o.step("Dừng trục", "Stop the hub")
    o.check(stopped, "máy chủ và các worker đã dừng gọn", "server and workers stopped cleanly")
    if server.error is not None:
        raise server.error


def _exchange(
    hub: Hub, o: _Out, pki: DemoPki, work: Path, commune: VxpClient, department: VxpClient
) -> None:
    from hub.edxml import iter_attachments, read
    from hub.edxml.writer import OutgoingAttachment, write_edoc, write_status
    from signing.demo_material import make_pdf, sign_demo_envelope, sign_demo_pdf

    now = dt.datetime.now(VN_TZ).replace(microsecond=0)
    today = now.date()
    document_id = LETTER.document_id(today)

    o.step("Xã ký văn bản (Nghị định 30/2020)", "The commune signs the letter (Decree 30/2020)")
    pdf = sign_demo_pdf(pki, make_pdf(LETTER_LINES), agency_name=COMMUNE_NAME)
    o.fact(
        f"PDF ký bởi {SIGNER_NAME} ({SIGNER_TITLE}) — chữ ký cá nhân hiển thị, rồi ký số bởi "
        f"{COMMUNE_NAME} — con dấu đè lên chữ ký",
        f"PDF signed by {SIGNER_NAME} ({SIGNER_TITLE}) — visible personal signature, then by "
        f"{COMMUNE_NAME} — agency seal over the signature",
    )
    (work / f"{CODE_NUMBER}-{CODE_NOTATION}.signed.pdf").write_bytes(pdf)
    name = f"{CODE_NUMBER}-{CODE_NOTATION}.pdf"
    attachment = OutgoingAttachment("1", name, "application/pdf", pdf, description=name)
    data = sign_demo_envelope(pki, write_edoc(LETTER.edoc(now), [attachment]))
    o.fact(
        f"gói edXML {len(data):,} byte, phong bì ký XML-DSig bởi {COMMUNE_NAME}",
        f"edXML package of {len(data):,} bytes, envelope signed (XML-DSig) by {COMMUNE_NAME}",
    )

    o.step(f"{COMMUNE_SYSTEM}: sendEdoc → {DEPARTMENT}")
    doc_id = commune.send_edoc(data, from_code=COMMUNE, to_codes=[DEPARTMENT])
    o.fact(f"trục nhận, DocId = {doc_id}", f"accepted by the hub, DocId = {doc_id}")
    with hub.uow() as uow:
        row = uow.documents.get(doc_id)
    o.check(row is not None, "văn bản đã lưu trong trục", "the document is stored in the hub")
    assert row is not None
    verdicts = dict(row.verdicts)
    envelope = verdicts.get("envelope")
    pdf_checked, pdf_bad = verdicts.get("pdf_checked", 0), verdicts.get("pdf_bad", 0)
    o.check(
        envelope == "valid",
        f"kết quả kiểm tra chữ ký đã lưu: phong bì {envelope} (hợp lệ)",
        f"stored signature verdicts: envelope {envelope} (valid)",
    )
    classes = [
        s.get("signer_class")
        for p in verdicts.get("details", {}).get("pdf", {}).get("pdfs", [])
        for s in p.get("signatures", [])
    ]
    signers = ", ".join(map(str, classes))
    o.check(
        pdf_checked == 2 and pdf_bad == 0,
        f"{pdf_checked - pdf_bad}/{pdf_checked} chữ ký PDF hợp lệ ({signers})",
        f"{pdf_checked - pdf_bad}/{pdf_checked} PDF signatures valid ({signers})",
    )

    o.step(f"{DEPARTMENT_SYSTEM}: getReceivedEdocList")
    items: list[Any] = []

    def arrived() -> bool:
        items[:] = [k for k in department.get_received_edoc_list() if k.from_code == COMMUNE]
        return bool(items)

    _wait(arrived)
    o.check(
        bool(items),
        f"văn bản đã đến hộp thư của {DEPARTMENT}",
        f"the document arrived in {DEPARTMENT}'s inbox",
    )
    item = items[0]
    o.fact(f"docId {item.doc_id}: {item.status} — {item.status_desc}")

    o.step(f"{DEPARTMENT_SYSTEM}: getEdoc, updateStatus done")
    fetched = department.get_edoc(item.doc_id)
    package = read(fetched)
    assert isinstance(package, EdocPackage)
    hops = [h.organ_id for h in package.trace.trace_headers] if package.trace else []
    o.check(
        package.document_id == document_id,
        f"nhận đúng văn bản {package.document_id}",
        f"received the right document {package.document_id}",
    )
    o.check(HUB_ORGAN_ID in hops, f"vết chuyển: {' → '.join(hops)}", f"trace: {' → '.join(hops)}")
    digests = []
    for extracted in iter_attachments(fetched):
        with extracted:  # spooled to a temporary file when large
            digests.append(extracted.sha256)
    o.check(
        digests == [hashlib.sha256(pdf).hexdigest()],
        "tệp PDF đã ký đến nguyên vẹn (SHA-256 trùng khớp)",
        "the signed PDF arrived intact (SHA-256 matches)",
    )
    department.update_status(item.doc_id, "done")
    with hub.uow() as uow:
        delivery = uow.deliveries.get(item.doc_id)
    state = delivery.state if delivery else None
    o.check(state == "done", f"trạng thái chuyển giao: {state}", f"delivery state: {state}")

    o.step(f"{DEPARTMENT_SYSTEM}: gửi trạng thái 01, 03, 06", f"{DEPARTMENT_SYSTEM}: send statuses")
    status_ids = []
    for code, description, name in STATUSES:
        sid = department.send_edoc(
            write_status(LETTER.status(code, description, today)),
            from_code=DEPARTMENT,
            to_codes=[COMMUNE],
            kind=MessageKind.STATUS,
        )
        status_ids.append(sid)
        o.fact(f"{code} ({description}) → DocId {sid}", f"{code} ({name}) → DocId {sid}")

    o.step(f"{COMMUNE_SYSTEM}: getReceivedEdocList(status), getEdoc, updateStatus done")
    inbox: list[Any] = []

    def all_statuses() -> bool:
        inbox[:] = commune.get_received_edoc_list(MessageKind.STATUS)
        return len(inbox) >= len(STATUSES)

    _wait(all_statuses)
    o.check(
        len(inbox) == len(STATUSES),
        f"{len(inbox)} gói trạng thái đã đến xã",
        f"{len(inbox)} status packages arrived at the commune",
    )
    codes = []
    for k in sorted(inbox, key=lambda k: k.created_time):
        status = read(commune.get_edoc(k.doc_id))
        assert isinstance(status, StatusPackage)
        codes.append(status.header.status_code)
        commune.update_status(k.doc_id, "done")
    o.check(
        sorted(c or "" for c in codes) == [c for c, _, _ in STATUSES],
        f"đã nhận các trạng thái {', '.join(c or '?' for c in codes)}",
        f"statuses received: {', '.join(c or '?' for c in codes)}",
    )
    o.check(
        not commune.get_received_edoc_list(MessageKind.STATUS),
        "hộp thư trạng thái của xã đã trống",
        "the commune's status inbox is empty",
    )

    o.step(f"{COMMUNE_SYSTEM}: getSentEdocList")
    rows = commune.get_sent_edoc_list(doc_id)
    o.check(len(rows) == 1, f"{len(rows)} nơi nhận", f"{len(rows)} recipient(s)")
    sent = rows[0]
    to, state, desc = sent.get("toCode"), sent.get("sendStatus"), sent.get("sendStatusDesc")
    o.fact(f"{to}: chuyển giao {state} — {desc}", f"{to}: delivery {state} — {desc}")
    o.check(
        sent.get("receiveStatus") == "06",
        f"trạng thái xử lý: {sent.get('receiveStatus')} — {sent.get('receiveStatusDesc')}",
        f"business status: {sent.get('receiveStatus')} — {sent.get('receiveStatusDesc')}",
    )
    with hub.uow() as uow:
        delivery = uow.deliveries.get(item.doc_id)
    recorded = delivery.business_status if delivery else None
    o.check(
        recorded == "06",
        "trạng thái 01, 03, 06 đã ghi nhận (mới nhất: 06)",
        "statuses 01, 03, 06 recorded (latest: 06)",
    )

    o.step("Dòng thời gian của văn bản", "The document's timeline")
    entries = [(e, "") for e in hub.services.timeline(doc_id)]
    for sid, (code, _, _) in zip(status_ids, STATUSES, strict=True):
        # The status packages' own deliveries, back to the commune (their acceptance is already
        # the "status NN" note on the letter's delivery).
        entries.extend(
            (e, o.t(f" [gói trạng thái {code}]", f" [status package {code}]"))
            for e in hub.services.timeline(sid)
            if "→" in e.event
        )
    for e, tag in sorted(entries, key=lambda pair: pair[0].at):
        when = e.at.astimezone(VN_TZ).strftime("%H:%M:%S.%f")[:-3]
        event = _event_vi(e.event) if o.lang != "en" else e.event
        o.fact(f"{when}  {event:24} {e.detail}{tag}")
    events = {e.event for e, _ in entries}
    o.check(
        {"queued→available", "available→fetched", "fetched→done"} <= events,
        "đủ các bước: đã lưu → sẵn sàng → đã lấy → hoàn tất",
        "every step present: queued → available → fetched → done",
    )


def _event_vi(event: str) -> str:
    """Vietnamese names of the timeline's events (state names stay the wire/DB values)."""
    return "trục đã nhận" if event == "accepted" else event.replace("status ", "trạng thái ")
