"""``lienthong conformance`` end to end on loopback: the bench serves a real hub over uvicorn and
the project's own :class:`VxpClient` plays the vendor's connector — well-behaved (every step and
check passes) and broken (a frozen timestamp, a missing status, a bad package: each reported as
failed, with the request where there is one)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.vxp_client import VxpClient
from hub.conformance.material import Parties, bench_edoc, bench_status, organization
from hub.edxml import read
from hub.edxml.model import BussinessDocType, EdocPackage, MessageKind
from hub.entrypoints.conformance import (
    BenchConfig,
    ConformanceBench,
    envelope_problems,
    pdf_problems,
)
from hub.errors import PeerError
from hub.vxp.wire import format_timestamp
from signing.demo_material import (
    DemoPki,
    make_demo_pki,
    make_pdf,
    sign_demo_envelope,
    sign_demo_pdf,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VENDOR = "000.00.61.H41"
BENCH = "000.00.02.H41"
#: The vendor's view: it sends from its agency to the bench's.
PARTIES = Parties(organization(VENDOR, "UBND xã Hưng Nguyên"), organization(BENCH, "Sở Nội vụ"))
#: What a well-behaved connector answers per business action of a received document.
ANSWERS = {
    BussinessDocType.NEW: ("01", "03", "06"),
    BussinessDocType.UPDATE: ("15",),
    BussinessDocType.REVOKE: ("15",),
    BussinessDocType.REPLACE: ("01",),
}


class FrozenStampClient(VxpClient):
    """The official SDK's defect: one service object signs every request with the timestamp it
    was built with (``vxp-protocol.md`` §2.1) — our own client never repeats one."""

    def _timestamp(self) -> str:
        return format_timestamp(self._clock(), self.zone)


class Vendor:
    """A QLVB connector's loop: pull, fetch, acknowledge, answer statuses; push one document.

    ``skip`` leaves out status codes; ``bad_package`` pushes bytes that are no edXML package
    first; ``clock`` replaces the client clock, and signs every request with it as it reads
    (a frozen one reproduces the SDK defect).
    """

    def __init__(
        self,
        endpoint: str,
        system_id: str,
        secret: str,
        *,
        skip: frozenset[str] = frozenset(),
        bad_package: bool = False,
        package: bytes | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.client = (
            FrozenStampClient(endpoint, system_id, secret, clock=clock)
            if clock
            else VxpClient(endpoint, system_id, secret)
        )
        self.skip = skip
        self.bad_package = bad_package
        self.package = package
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _status(self, code: str, about: str) -> None:
        if code in self.skip:
            return
        data = bench_status(PARTIES, code, f"Trạng thái {code}", about=about, now=_now())
        self.client.send_edoc(data, from_code=VENDOR, to_codes=[BENCH], kind=MessageKind.STATUS)

    def _loop(self) -> None:
        try:
            if self.bad_package:
                with contextlib.suppress(PeerError):  # refused, as the bench must report
                    self.client.send_edoc(
                        b"<edXML>not a package", from_code=VENDOR, to_codes=[BENCH]
                    )
            else:
                data = (
                    self.package
                    or bench_edoc(PARTIES, "new", now=_now(), run="77", signed_pdf=None)[1]
                )
                self.client.send_edoc(data, from_code=VENDOR, to_codes=[BENCH])
            while not self.stop.is_set():
                for item in self.client.get_received_edoc_list(MessageKind.EDOC):
                    package = read(self.client.get_edoc(item.doc_id))
                    self.client.update_status(item.doc_id, "done")
                    assert isinstance(package, EdocPackage)
                    kind = package.trace.bussiness.doc_type if package.trace else None
                    kind = kind if kind is not None else BussinessDocType.NEW
                    for code in ANSWERS[kind]:
                        assert package.document_id is not None
                        self._status(code, package.document_id)
                for item in self.client.get_received_edoc_list(MessageKind.STATUS):
                    self.client.get_edoc(item.doc_id)
                    self.client.update_status(item.doc_id, "done")
                self.stop.wait(0.2)
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    def __enter__(self) -> Vendor:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.client.close()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _run(tmp_path: Path, limit: float, **vendor: Any) -> dict[str, Any]:
    config = BenchConfig(port=0, report_dir=tmp_path / "report", step_limit_s=limit, poll_s=0.1)
    bench = ConformanceBench(config, out=open(tmp_path / "bench.log", "w"))  # noqa: SIM115
    bench.start()
    try:
        with Vendor(bench.endpoint, config.system_id, bench.secret, **vendor) as v:
            report = bench.run()
        assert not v.errors, v.errors
    finally:
        bench.stop()
    on_disk = json.loads((tmp_path / "report" / "conformance.json").read_text("utf-8"))
    assert on_disk == report
    html = (tmp_path / "report" / "conformance.html").read_text("utf-8")
    assert all(s["id"] in html for s in report["steps"])
    return report


def steps_by_id(report: dict[str, Any]) -> dict[str, Any]:
    return {s["id"]: s for s in report["steps"]}


def _outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {i["id"]: i["outcome"] for i in (*report["steps"], *report["checks"])}


@pytest.fixture(scope="module")
def vendor_pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    """Throw-away certificates of the vendor's agency (a CA the bench does not trust)."""
    return make_demo_pki(
        tmp_path_factory.mktemp("vendor-pki"),
        agency_name="UBND xã Hưng Nguyên",
        agency_code=VENDOR,
        person_name="Trần Văn Cường",
        person_title="Chủ tịch",
    )


def _signed_package(pki: DemoPki) -> bytes:
    pdf = sign_demo_pdf(pki, make_pdf(("Van ban cua nha cung cap",)), agency_name="UBND xa")
    _, data = bench_edoc(PARTIES, "new", now=_now(), run="78", signed_pdf=pdf)
    return sign_demo_envelope(pki, data)


def test_the_vendor_documents_signatures_are_checked(vendor_pki: DemoPki) -> None:
    signed = _signed_package(vendor_pki)
    assert envelope_problems(signed, VENDOR) == []
    tampered = signed.replace("kiểm thử".encode(), "KIỂM THỬ".encode(), 1)
    assert tampered != signed
    (problem,) = envelope_problems(tampered, VENDOR)
    assert problem.startswith("envelope signature digest_mismatch")
    pdf = sign_demo_pdf(vendor_pki, make_pdf(("Van ban",)), agency_name="UBND xa")
    assert pdf_problems("a.pdf", pdf) == []
    broken = pdf.replace(b"Van ban", b"VAN BAN", 1)
    assert pdf_problems("a.pdf", broken)


def test_a_well_behaved_connector_passes_every_step_and_check(
    tmp_path: Path, vendor_pki: DemoPki
) -> None:
    report = _run(tmp_path, limit=20.0, package=_signed_package(vendor_pki))
    outcomes = _outcomes(report)
    assert set(outcomes.values()) == {"passed"}, outcomes
    assert report["passed"] is True
    hash_check = next(c for c in report["checks"] if c["id"] == "protocol.hash_file")
    assert hash_check["reason_en"] == "form used: lossy"  # VxpClient speaks like the SDK


def test_a_broken_connector_is_reported_step_by_step_with_the_requests(tmp_path: Path) -> None:
    frozen = _now()
    report = _run(
        tmp_path,
        limit=6.0,
        skip=frozenset({"06"}),
        bad_package=True,
        clock=lambda: frozen,
    )
    outcomes = _outcomes(report)
    assert report["passed"] is False
    assert outcomes["status.new.06"] == "timed_out"
    assert "no status 06 arrived" in steps_by_id(report)["status.new.06"]["reason_en"]
    assert outcomes["status.new.01"] == "passed"
    assert outcomes["receive.replace"] == "passed"
    steps = {s["id"]: s for s in report["steps"]}
    checks = {c["id"]: c for c in report["checks"]}

    push = steps["push.edoc"]
    assert push["outcome"] == "failed"
    assert push["request"]["path"] == "/sendEdoc"
    assert push["request"]["status"] >= 400
    assert push["request"]["body_excerpt"].startswith("<edXML>not a package")
    assert outcomes["push.statuses"] == "failed"
    assert "push.edoc" in steps["push.statuses"]["reason_en"]

    stamp = checks["protocol.timestamp"]
    assert stamp["outcome"] == "failed"
    assert "reused" in stamp["reason_en"] or "away from the arrival" in stamp["reason_en"]
    sent = {k.lower(): v for k, v in stamp["request"]["headers"]}
    assert sent["xroadvnpt-timestamp"] == format_timestamp(frozen)
    assert outcomes["protocol.authentication"] == "passed"
