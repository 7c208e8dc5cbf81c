"""``lienthong demo --levels``: liên thông across the levels — a national axis and two provincial
hubs as three ``lienthong run`` processes, and one document crossing from a commune of one
province to a department of another, with its statuses coming back.

What it does, in order (each step checks its outcome; the exit status is 0 only when every step
succeeded, and a failed step says what it expected):

1. write three installations in a temporary directory (or ``--keep DIR``), each with its own
   settings file, SQLite store, embedded broker and secret key: the axis (``hub.role:
   national``, organ ``000.00.00.G22``), Nghệ An (H41) and Cao Bằng (H14), both below the axis
   through ``national.*`` alone; register the systems: at the axis the two provinces' hubs
   (``hub.h41``, ``hub.h14``), in H41 the QLVB of *UBND xã Nghi Lộc* (``000.00.65.H41``), in
   H14 the QLVB of *Sở Nội vụ tỉnh Cao Bằng* (``000.00.02.H14``);
2. start the three hubs (``python -m hub.entrypoints.cli run``, ephemeral ports on 127.0.0.1)
   and wait until each province has registered its agencies at the axis (``registerAgency``);
3. as the commune: ``sendEdoc`` to the department of the other province; then watch each hop —
   H41 forwards it to the axis, the axis holds it in H14's inbox there, H14 takes it into the
   department's inbox — and check the trace (H41 → axis → H14, QCVN 102 §2.3);
4. as the department: ``getEdoc``, ``updateStatus done``, then the statuses 01, 03, 06;
5. as the commune: pull the three statuses; the sent list shows 06 and the remote state "done";
6. stop the three processes (SIGTERM) and check each stopped cleanly.

Real processes, real HTTP and the VXP HMAC on every hop; the only thing shared by the three
hubs is the loopback interface. Unlike ``lienthong demo`` the package is not signed: the point
here is the route, not the verdicts. Output in Vietnamese (``--lang en``).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from hub.edxml.model import (
    VN_TZ,
    EdocPackage,
    MessageKind,
    StaffInfo,
    StatusPackage,
)
from hub.entrypoints.demo import STATUSES, DemoFailed, DemoLetter, _free_port, _org, _Out, _wait

if TYPE_CHECKING:
    from adapters.vxp_client import VxpClient
    from hub.entrypoints.bootstrap import Hub

AXIS = "000.00.00.G22"
COMMUNE = "000.00.65.H41"
COMMUNE_NAME = "Ủy ban nhân dân xã Nghi Lộc"
COMMUNE_SYSTEM = "qlvb.xa-nghi-loc"
DEPARTMENT = "000.00.02.H14"
DEPARTMENT_NAME = "Sở Nội vụ tỉnh Cao Bằng"
DEPARTMENT_SYSTEM = "qlvb.so-noi-vu-cao-bang"
CODE_NUMBER, CODE_NOTATION = "37", "UBND-VP"
LETTER = DemoLetter(
    sender=_org(COMMUNE, COMMUNE_NAME, "xanghiloc@nghean.gov.vn"),
    recipient=_org(DEPARTMENT, DEPARTMENT_NAME, "sonoivu@caobang.gov.vn"),
    number=CODE_NUMBER,
    notation=CODE_NOTATION,
    place="Nghi Lộc",
    subject="V/v trao đổi kinh nghiệm vận hành chính quyền địa phương hai cấp",
    signer_title="Chủ tịch",
    signer_name="Hồ Văn Nam",
    clerk=StaffInfo("Văn phòng", "Nguyễn Thị Lan", "vanthu@nghiloc.gov.vn", None),
    answering_clerk=StaffInfo("Văn thư", "Đàm Thị Thu", "vanthu@snv.caobang.gov.vn", None),
)
#: Each hop waits for a poll round (0.3 s here) or a dispatch; a loaded machine needs margin.
WAIT_S = 60.0
#: How long a ``lienthong run`` may take to answer ``/healthz``.
START_S = 60.0
STOP_GRACE_S = 15.0


@dataclass
class _Site:
    """One installation: its data dir, settings and the ``lienthong run`` process on it."""

    name: str
    organ_id: str
    root: Path
    port: int = field(default_factory=_free_port)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> Path:
        return self.root / "run.log"

    def write(self, settings: str, extra_env: dict[str, str] | None = None) -> None:
        from cryptography.fernet import Fernet

        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "settings.yaml").write_text(settings, encoding="utf-8")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
        self.env.update(
            LIENTHONG_SETTINGS=str(self.root / "settings.yaml"),
            LIENTHONG_DATA_DIR=str(self.root),
            LIENTHONG_SECRET_KEY=Fernet.generate_key().decode("ascii"),
            **(extra_env or {}),
        )

    def hub(self) -> Hub:
        """The installation's store, opened in this process (close it: ``with site.hub()``)."""
        from hub.entrypoints.bootstrap import build_hub
        from hub.settings import load_settings

        env = {k: v for k, v in self.env.items() if k.startswith("LIENTHONG_")}
        return build_hub(load_settings(env=env))

    def add_system(self, system_id: str, codes: list[str]) -> str:
        """Register a system; return its (generated) secret."""
        with self.hub() as hub:
            return str(hub.services.systems.add(system_id, codes, secret=secrets.token_urlsafe(24)))

    def hosted(self, system_id: str) -> set[str]:
        with self.hub() as hub:
            return {c for s in hub.services.systems.list() if s.id == system_id
                    for c in s.agencies}  # fmt: skip

    def start(self) -> None:
        args = [sys.executable, "-m", "hub.entrypoints.cli", "run", "--data-dir", str(self.root)]
        args += ["--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("wb") as out:
            # Our own interpreter and options, no shell.
            self.proc = subprocess.Popen(args, env=self.env, stdout=out, stderr=out)  # noqa: S603

    def healthy(self) -> bool:
        import httpx

        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            return httpx.get(self.url + "healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> bool:
        """SIGTERM, then SIGKILL after the grace period; True when it stopped by itself."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc is None or self.proc.returncode in (0, -signal.SIGTERM)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_GRACE_S)
            return False
        clean = "Traceback" not in self.log_path.read_text("utf-8", errors="replace")
        return self.proc.returncode in (0, -signal.SIGTERM) and clean


def run_levels_demo(keep: Path | None, lang: str, out: TextIO) -> int:
    """Run the demo (module docstring); 0 when every step succeeded, 1 otherwise (2: ``keep``
    is not an empty directory)."""
    o = _Out(out, lang)
    if keep is not None:
        keep = keep.resolve()
        if keep.exists() and any(keep.iterdir()):
            o.write(o.t(f"lienthong demo: thư mục {keep} không trống\n", f"{keep} is not empty\n"))
            return 2
        keep.mkdir(parents=True, exist_ok=True)
        return _run(keep, o)
    with tempfile.TemporaryDirectory(prefix="lienthong-levels-") as tmp:
        return _run(Path(tmp), o)


def _run(work: Path, o: _Out) -> int:
    o.write(
        o.t(
            "lienthong demo --levels — văn bản liên thông giữa các cấp: xã (H41) → trục quốc gia "
            "→ sở của tỉnh khác (H14)\n",
            "lienthong demo --levels — across the levels: a commune (H41) → the national axis → "
            "a department of another province (H14)\n",
        )
    )
    sites = [
        _Site("axis", AXIS, work / "axis"),
        _Site("h41", "000.00.00.H41", work / "h41"),
        _Site("h14", "000.00.00.H14", work / "h14"),
    ]
    try:
        _scenario(o, *sites)
    except DemoFailed as exc:
        o.write(o.t(f"\nTHẤT BẠI: {exc}\n", f"\nFAILED: {exc}\n"))
        _tail_logs(o, sites)
        return 1
    except Exception as exc:
        o.write(o.t("\nTHẤT BẠI (lỗi không mong đợi): ", "\nFAILED (unexpected error): "))
        o.write(f"{type(exc).__name__}: {exc}\n")
        traceback.print_exc(file=o.out)
        _tail_logs(o, sites)
        return 1
    finally:
        for site in sites:
            site.stop()
    took = time.monotonic() - o.started
    o.write(o.t(f"\nThành công: mọi bước đều đạt ({took:.1f} s).\n",
                f"\nSuccess: every step passed ({took:.1f} s).\n"))  # fmt: skip
    return 0


def _tail_logs(o: _Out, sites: list[_Site]) -> None:
    for site in sites:
        if site.log_path.exists():
            lines = site.log_path.read_text("utf-8", errors="replace").splitlines()[-15:]
            o.write(f"\n--- {site.name} ({site.log_path}) ---\n" + "\n".join(lines) + "\n")


def _scenario(o: _Out, axis: _Site, h41: _Site, h14: _Site) -> None:
    from adapters.vxp_client import VxpClient

    o.step("Tạo ba trục: quốc gia, Nghệ An (H41), Cao Bằng (H14)",
           "Three hubs: national, Nghệ An (H41), Cao Bằng (H14)")  # fmt: skip
    inbound = "inbound: {poll_s: 0.3, track_s: 1}\n"
    axis.write(f"hub: {{organ_id: '{AXIS}', role: national}}\n")
    axis_secrets = {s: axis.add_system(s, [root]) for s, root in
                    (("hub.h41", "000.00.00.H41"), ("hub.h14", "000.00.00.H14"))}  # fmt: skip
    for site, scope in ((h41, "H41, K41"), (h14, "H14")):
        system = f"hub.{site.name}"
        site.write(
            f"hub: {{organ_id: '{site.organ_id}', scope: [{scope}]}}\n{inbound}",
            {
                "LIENTHONG_NATIONAL_ENDPOINT": axis.url,
                "LIENTHONG_NATIONAL_SYSTEM_ID": system,
                "LIENTHONG_NATIONAL_SECRET": axis_secrets[system],
            },
        )
        o.fact(f"{site.organ_id}: hệ thống {system} của trục quốc gia",
               f"{site.organ_id}: system {system} of the national axis")  # fmt: skip
    commune_secret = h41.add_system(COMMUNE_SYSTEM, [COMMUNE])
    department_secret = h14.add_system(DEPARTMENT_SYSTEM, [DEPARTMENT])
    o.fact(f"H41: {COMMUNE_SYSTEM} ↔ {COMMUNE} ({COMMUNE_NAME})")
    o.fact(f"H14: {DEPARTMENT_SYSTEM} ↔ {DEPARTMENT} ({DEPARTMENT_NAME})")

    o.step("Khởi động ba tiến trình lienthong run", "Start three lienthong run processes")
    for site in (axis, h41, h14):
        site.start()
    for site in (axis, h41, h14):
        _wait(site.healthy, START_S)
        o.check(site.healthy(), f"{site.name}: {site.url} sẵn sàng", f"{site.name}: {site.url} up")

    o.step("Các tỉnh đăng ký cơ quan của mình với trục quốc gia (registerAgency)",
           "The provinces register their agencies at the axis (registerAgency)")  # fmt: skip
    for system, code in (("hub.h41", COMMUNE), ("hub.h14", DEPARTMENT)):
        _wait(lambda s=system, c=code: c in axis.hosted(s), WAIT_S, every=0.5)  # type: ignore[misc]
        o.check(code in axis.hosted(system), f"trục quốc gia: {system} quản lý {code}",
                f"national axis: {system} hosts {code}")  # fmt: skip

    with (
        VxpClient(h41.url, COMMUNE_SYSTEM, commune_secret) as commune,
        VxpClient(h14.url, DEPARTMENT_SYSTEM, department_secret) as department,
        VxpClient(axis.url, "hub.h14", axis_secrets["hub.h14"]) as h14_at_axis,
    ):
        _exchange(o, h41, commune, department, h14_at_axis)

    o.step("Dừng ba trục (SIGTERM)", "Stop the three hubs (SIGTERM)")
    for site in (axis, h41, h14):
        o.check(site.stop(), f"{site.name} đã dừng gọn", f"{site.name} stopped cleanly")


def _exchange(
    o: _Out, h41: _Site, commune: VxpClient, department: VxpClient, h14_at_axis: VxpClient
) -> None:
    from hub.edxml import read
    from hub.edxml.writer import OutgoingAttachment, write_edoc, write_status
    from signing.demo_material import make_pdf

    now = dt.datetime.now(VN_TZ).replace(microsecond=0)
    document_id = LETTER.document_id(now.date())
    pdf = make_pdf(("UY BAN NHAN DAN XA NGHI LOC", "Kinh gui: So Noi vu tinh Cao Bang"))
    attachment = OutgoingAttachment("1", "37-UBND-VP.pdf", "application/pdf", pdf)
    data = write_edoc(LETTER.edoc(now), [attachment])

    o.step(f"H41 · {COMMUNE_SYSTEM}: sendEdoc → {DEPARTMENT}")
    doc_id = commune.send_edoc(data, from_code=COMMUNE, to_codes=[DEPARTMENT])
    o.fact(f"trục H41 nhận, DocId = {doc_id}", f"accepted by H41, DocId = {doc_id}")

    o.step("Chặng 1: H41 → trục quốc gia", "Hop 1: H41 → the national axis")
    _wait(lambda: _forwarded(h41, doc_id), WAIT_S, every=0.3)
    o.check(_forwarded(h41, doc_id), "H41 đã chuyển lên trục quốc gia (forwarded)",
            "H41 forwarded it to the national axis")  # fmt: skip

    o.step("Chặng 2: trục quốc gia → H14", "Hop 2: the national axis → H14")
    waiting = len(h14_at_axis.get_received_edoc_list())  # H14's inbox at the axis, not taken
    o.fact(f"hộp thư của hub.h14 ở trục quốc gia: {waiting} gói chờ H14 lấy",
           f"hub.h14's inbox at the axis: {waiting} waiting for H14 to take")  # fmt: skip
    _wait(lambda: bool(department.get_received_edoc_list()), WAIT_S, every=0.3)
    items = [k for k in department.get_received_edoc_list() if k.from_code == COMMUNE]
    o.check(bool(items), f"H14 đã nhận từ trục quốc gia vào hộp thư của {DEPARTMENT}",
            f"H14 took it from the axis into {DEPARTMENT}'s inbox")  # fmt: skip

    o.step(f"H14 · {DEPARTMENT_SYSTEM}: getEdoc, updateStatus done")
    package = read(department.get_edoc(items[0].doc_id))
    assert isinstance(package, EdocPackage)
    hops = [h.organ_id for h in package.trace.trace_headers] if package.trace else []
    o.check(package.document_id == document_id, f"đúng văn bản {document_id}",
            f"the right document {document_id}")  # fmt: skip
    want = [COMMUNE, "000.00.00.H41", AXIS, "000.00.00.H14"]
    o.check(hops[-4:] == want, f"vết chuyển: {' → '.join(hops)}", f"trace: {' → '.join(hops)}")
    department.update_status(items[0].doc_id, "done")

    o.step(f"H14 · {DEPARTMENT_SYSTEM}: gửi trạng thái 01, 03, 06 → {COMMUNE}",
           f"H14 · {DEPARTMENT_SYSTEM}: statuses 01, 03, 06 → {COMMUNE}")  # fmt: skip
    for i, (code, description, name) in enumerate(STATUSES):
        if i:  # an office stamps its statuses apart (Timestamp has one-second resolution)
            time.sleep(1.0)
        status = write_status(LETTER.status(code, description, now.date()))
        sid = department.send_edoc(status, from_code=DEPARTMENT, kind=MessageKind.STATUS)
        o.fact(f"{code} ({description}) → DocId {sid}", f"{code} ({name}) → DocId {sid}")

    o.step(f"H41 · {COMMUNE_SYSTEM}: nhận trạng thái (H14 → trục quốc gia → H41)",
           f"H41 · {COMMUNE_SYSTEM}: the statuses (H14 → the axis → H41)")  # fmt: skip
    got: list[str] = []

    def statuses() -> bool:
        for item in commune.get_received_edoc_list(MessageKind.STATUS):
            status_package = read(commune.get_edoc(item.doc_id))
            assert isinstance(status_package, StatusPackage)
            got.append(status_package.header.status_code or "")
            commune.update_status(item.doc_id, "done")
        return len(got) >= len(STATUSES)

    _wait(statuses, WAIT_S, every=0.3)
    o.check(sorted(got) == [c for c, _, _ in STATUSES], f"xã nhận trạng thái {', '.join(got)}",
            f"the commune received statuses {', '.join(got)}")  # fmt: skip

    o.step(f"H41 · {COMMUNE_SYSTEM}: getSentEdocList")
    rows: list[dict[str, str]] = []

    def final() -> bool:
        rows[:] = commune.get_sent_edoc_list(doc_id)
        return bool(rows) and (rows[0]["receiveStatus"], rows[0]["sendStatus"]) == ("06", "done")

    _wait(final, WAIT_S, every=0.5)
    row = rows[0] if rows else {}
    o.check(
        final(),
        f"{row.get('toCode')}: trạng thái {row.get('receiveStatus')}, "
        f"chuyển giao {row.get('sendStatus')} (ở tỉnh H14, qua trục quốc gia)",
        f"{row.get('toCode')}: status {row.get('receiveStatus')}, "
        f"transport {row.get('sendStatus')} (at H14, through the axis)",
    )


def _forwarded(h41: _Site, doc_id: str) -> bool:
    with h41.hub() as hub, hub.uow() as uow:
        states = {row.state for row in uow.deliveries.for_document(doc_id)}
    return bool(states) and states <= {"forwarded", "fetched", "done"}
