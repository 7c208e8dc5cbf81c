"""The attack corpus through the HTTP paths of a real hub (SQLite, in-process ASGI app).

Every hostile body goes in through both doors — the VXP façade (``/sendEdoc``, signed exactly as
the SDK signs) and REST (``POST /api/v1/packages``) — and must come back as a clean JSON refusal
naming the problem (the REST ``code`` is asserted; the VXP ``ErrorDesc`` carries the same
message), never a 5xx and never an HTML page. Then: hostile but well-formed packages (XXE and deep
nesting inside a real edoc, whitespace padding, thousands of recipients or attachments, path
traversal in attachment names), replay outside the HMAC window, and pulls of another system's
documents (refused exactly like an id that does not exist: no leak of existence).

Body caps, slow bodies and memory under a zip bomb need a real server or a separate process:
``test_hostile_server.py``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hostile_support import (
    PACKAGE_CAP,
    HostileHub,
    assert_clean_refusal,
    compact,
)

from hub.edxml.writer import OutgoingAttachment
from tests.factories import make_edoc, organization, pdf_attachment

ATTACKS = Path(__file__).resolve().parents[2] / "unit" / "data" / "xml-attacks"
#: The code each corpus file is refused with (as ``tests/unit/test_xmlsafe.py`` states for the
#: parser; here through HTTP). ``xinclude.xml`` is well-formed: refused as not edXML.
CORPUS = {
    "xxe_file.xml": "xml.doctype",
    "xxe_http.xml": "xml.doctype",
    "billion_laughs.xml": "xml.doctype",
    "quadratic_blowup.xml": "xml.doctype",
    "external_dtd.xml": "xml.doctype",
    "parameter_entities.xml": "xml.doctype",
    "doctype_after_comment.xml": "xml.doctype",
    "undeclared_entity.xml": "xml.entity",
    "non_utf8_garbage.xml": "xml.encoding",
    "latin1_declared.xml": "xml.encoding",
    "utf7_declared.xml": "xml.encoding",
    "utf16_bom.xml": "xml.encoding",
    "utf16_no_bom.xml": "xml.encoding",
    "truncated.xml": "xml.truncated",
    "empty.xml": "xml.empty",
    "whitespace_only.xml": "xml.empty",
    "deep_nesting.xml": "xml.limit",
    "mismatched_tags.xml": "xml.malformed",
    "xinclude.xml": "edxml.root",
}


def push_vxp(http: TestClient, site: HostileHub, package: bytes) -> object:
    # The SDK appends CR LF to the body and signs the package without it (§4).
    headers = site.a.send_edoc_headers(package, site.b.agency)
    return http.post("/sendEdoc", headers=headers, content=package + b"\r\n")


def push_rest(http: TestClient, site: HostileHub, package: bytes) -> object:
    path = "/api/v1/packages"
    headers = site.a.rest_headers("POST", path, package)
    headers.append(("Content-Type", b"application/xml"))
    return http.post(path, headers=headers, content=package)


def both(
    http: TestClient, site: HostileHub, package: bytes, status: int | tuple[int, ...]
) -> tuple[dict[str, object], dict[str, object]]:
    """Push through both doors; both refuse cleanly with ``status``: (REST error, VXP reply)."""
    rest = assert_clean_refusal(push_rest(http, site, package), status, api="rest")  # type: ignore[arg-type]
    vxp = assert_clean_refusal(push_vxp(http, site, package), status, api="vxp")  # type: ignore[arg-type]
    assert vxp["ErrorDesc"] == rest["message"]  # the same words through either door
    return rest, vxp


def test_the_corpus_is_complete() -> None:
    assert {p.name for p in ATTACKS.glob("*.xml")} == set(CORPUS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file_is_refused_cleanly_through_both_doors(
    http: TestClient, site: HostileHub, name: str
) -> None:
    rest, _ = both(http, site, (ATTACKS / name).read_bytes(), 400)
    assert rest["code"] == CORPUS[name]
    assert "root:" not in str(rest)  # /etc/passwd was never read into an answer


def _edoc(site: HostileHub, **kw: object) -> bytes:
    return make_edoc(sender=site.a.agency, to=[site.b.agency], **kw)  # type: ignore[arg-type]


def test_xxe_inside_a_real_edoc(http: TestClient, site: HostileHub) -> None:
    pkg = _edoc(site)
    decl_end = pkg.index(b"?>") + 2
    doctype = b'\n<!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    hostile = pkg[:decl_end] + doctype + pkg[decl_end:].replace(b"V/v ", b"&x; ", 1)
    rest, _ = both(http, site, hostile, 400)
    assert rest["code"] == "xml.doctype"


def test_deep_nesting_inside_a_real_edoc(http: TestClient, site: HostileHub) -> None:
    pkg = _edoc(site)
    deep = b"<a>" * 5000 + b"</a>" * 5000
    hostile = pkg.replace(b"</edXML>", deep + b"</edXML>")
    rest, _ = both(http, site, hostile, 400)
    assert rest["code"] == "xml.limit"


def test_whitespace_padding_under_the_cap_is_read_quickly(
    http: TestClient, site: HostileHub
) -> None:
    """1.5 MB of layout whitespace between elements is legal XML: accepted, and fast."""
    pkg = _edoc(site)
    padded = pkg.replace(b"<edXML:edXMLEnvelope>", b" \n\t" * 500_000 + b"<edXML:edXMLEnvelope>")
    assert len(padded) < PACKAGE_CAP
    started = time.perf_counter()
    r = push_rest(http, site, padded)
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    assert time.perf_counter() - started < 10


def test_whitespace_over_the_cap_is_413(http: TestClient, site: HostileHub) -> None:
    pkg = _edoc(site)
    padded = pkg.replace(b"</edXML>", b" " * PACKAGE_CAP + b"</edXML>")
    rest, vxp = both(http, site, padded, 413)
    assert rest["code"] == "request.too_large"
    assert str(PACKAGE_CAP) in str(vxp["ErrorDesc"])


def test_thousands_of_recipients(http: TestClient, site: HostileHub) -> None:
    """3,000 ``To`` (the hub's own and unknown codes): answered cleanly within seconds."""
    codes = [f"000.{i // 100:02d}.{i % 100:02d}.H41" for i in range(3000)]
    pkg = make_edoc(sender=site.a.agency, to=[organization(c) for c in codes])
    started = time.perf_counter()
    r = push_rest(http, site, pkg)
    elapsed = time.perf_counter() - started
    if r.status_code >= 400:  # type: ignore[attr-defined]
        assert_clean_refusal(r, (400, 413, 422), api="rest")  # type: ignore[arg-type]
    else:
        assert len(r.json()["recipients"]) == len(set(codes))  # type: ignore[attr-defined]
    print(f"3000 recipients: HTTP {r.status_code} in {elapsed:.2f} s")  # type: ignore[attr-defined]
    assert elapsed < 60


def test_thousands_of_attachments(http: TestClient, site: HostileHub) -> None:
    atts = [
        OutgoingAttachment(str(i), f"{i}.txt", "text/plain", b"x", zip=False) for i in range(2000)
    ]
    pkg = _edoc(site, attachments=atts)
    started = time.perf_counter()
    r = push_rest(http, site, pkg)
    elapsed = time.perf_counter() - started
    if r.status_code >= 400:  # type: ignore[attr-defined]
        assert_clean_refusal(r, (400, 413, 422), api="rest")  # type: ignore[arg-type]
    print(f"2000 attachments: HTTP {r.status_code} in {elapsed:.2f} s")  # type: ignore[attr-defined]
    assert elapsed < 60


def test_path_traversal_in_attachment_names_writes_nothing(
    http: TestClient, site: HostileHub, tmp_path: Path
) -> None:
    """Names like ``../../etc/passwd`` (manifest, ``AttachmentName`` and the ZIP entry) are data:
    the hub stores content-addressed blobs and never creates a file from a name."""
    marker = f"lienthong-traversal-{uuid.uuid4().hex}"
    evil = f"../../../../../../../../tmp/{marker}"
    atts = [
        pdf_attachment(evil, content_id="1"),
        OutgoingAttachment(
            "2", "../../etc/passwd", "application/pdf", b"%PDF-1.4\n", entry_name=evil
        ),
        OutgoingAttachment("3", "/etc/passwd", "text/plain", b"root:x:0:0", zip=False),
    ]
    pkg = _edoc(site, attachments=atts)
    r = push_vxp(http, site, pkg)
    assert r.json()["status"] == "OK", r.text  # type: ignore[attr-defined]
    site.dispatch_all()
    for item in http.post("/getReceivedEdocList", headers=site.b.vxp_headers({})).json()["data"]:
        got = http.post("/getEdoc", headers=site.b.vxp_headers({"docId": item["docId"]}))
        assert got.json()["status"] == "OK"
    # Wherever the name is resolved from, its ../ chain ends at /tmp/<marker> or /etc/passwd.
    assert not Path("/tmp", marker).exists()
    assert not list(site.data_dir.rglob(f"*{marker}*"))
    assert Path("/etc/passwd").read_bytes()[:4] != b"%PDF"


def test_replay_outside_the_hmac_window(http: TestClient, site: HostileHub) -> None:
    """A request signed an hour ago (beyond the 5-minute default) is refused on both APIs."""
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    r = http.post("/getReceivedEdocList", headers=site.a.vxp_headers({}, at=old))
    vxp = assert_clean_refusal(r, 401, api="vxp")
    assert "timestamp too old" in str(vxp["ErrorDesc"])
    r = http.get("/api/v1/inbox", headers=site.a.rest_headers("GET", "/api/v1/inbox", at=old))
    assert "timestamp too old" in assert_clean_refusal(r, 401, api="rest")["message"]
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    r = http.post("/countReceiveEdoc", headers=site.a.vxp_headers({}, at=future))
    assert "future" in str(assert_clean_refusal(r, 401, api="vxp")["ErrorDesc"])


def _b_delivery(http: TestClient, site: HostileHub) -> tuple[str, str]:
    """A package from A to B, dispatched: (A's doc id, B's delivery id)."""
    r = push_vxp(http, site, _edoc(site))
    doc_id = r.json()["DocId"]  # type: ignore[attr-defined]
    site.dispatch_all()
    (item,) = http.post("/getReceivedEdocList", headers=site.b.vxp_headers({})).json()["data"]
    return doc_id, item["docId"]


def _same_refusal(a: object, b: object, a_id: str, b_id: str) -> None:
    """Two refusals identical but for the id they name (status, headers that matter, body)."""
    assert a.status_code == b.status_code  # type: ignore[attr-defined]
    assert a.headers["content-type"] == b.headers["content-type"]  # type: ignore[attr-defined]
    assert a.text.replace(a_id, "<id>") == b.text.replace(b_id, "<id>")  # type: ignore[attr-defined]


def test_pulling_another_systems_document_leaks_nothing(http: TestClient, site: HostileHub) -> None:
    doc_id, delivery = _b_delivery(http, site)
    ghost = str(uuid.uuid4())
    c = site.a  # the sender itself, and not the recipient
    for op, extra in (("getEdoc", {}), ("downloadEdoc", {}), ("updateStatus", {"status": "done"})):
        theirs = http.post(f"/{op}", headers=c.vxp_headers({"docId": delivery, **extra}))
        none = http.post(f"/{op}", headers=c.vxp_headers({"docId": ghost, **extra}))
        assert theirs.status_code == 404, theirs.text
        _same_refusal(theirs, none, delivery, ghost)
        if op != "downloadEdoc":
            assert_clean_refusal(theirs, 404, api="vxp")  # type: ignore[arg-type]
        else:
            assert theirs.content == b""  # the SDK saves any body as the package (§5.2)
    for method, template, body in (
        ("GET", "/api/v1/inbox/{}/package", b""),
        ("POST", "/api/v1/inbox/{}/ack", compact({"status": "done"})),
    ):
        paths = template.format(delivery), template.format(ghost)
        theirs, none = (
            http.request(method, p, headers=c.rest_headers(method, p, body), content=body or None)
            for p in paths
        )
        assert_clean_refusal(theirs, 404, api="rest")  # type: ignore[arg-type]
        _same_refusal(theirs, none, delivery, ghost)
    # B's own sent list and timeline: another system's doc id is not found for B.
    for path in (f"/api/v1/sent/{doc_id}", f"/api/v1/documents/{doc_id}/timeline"):
        theirs = http.get(path, headers=site.b.rest_headers("GET", path))
        ghost_path = path.replace(doc_id, ghost)
        none = http.get(ghost_path, headers=site.b.rest_headers("GET", ghost_path))
        assert_clean_refusal(theirs, 404, api="rest")  # type: ignore[arg-type]
        _same_refusal(theirs, none, doc_id, ghost)
    r = http.post("/getSentEdocList", headers=site.b.vxp_headers({"docId": doc_id}))
    assert r.json()["data"] == []
    # … and the real recipient can read it: the id above was real, not a typo.
    got = http.post("/getEdoc", headers=site.b.vxp_headers({"docId": delivery}))
    assert got.json()["status"] == "OK"
    assert not re.search(r"<html", got.text, re.I)
