"""Evidence export as ASiC-E and its offline verification (signing.evidence_asic): a round trip
on SQLite and PostgreSQL with a real TSA (tests/tsa.py) and the generated PKI; a changed package
byte, a changed receipt, a swapped timestamp or a re-digested manifest fail verification; the
same container verifies with plain OpenSSL; the hub's key may live on a SoftHSM2 token; and the
``lienthong evidence`` commands do it end to end."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from asn1crypto import cms as asn1_cms
from cryptography.hazmat.primitives.serialization import Encoding

from adapters.store import tables as t
from hub.audit_chain import link
from hub.delivery import Event
from hub.evidence import chain_canon
from signing.evidence import CmsReceiptSigner, HttpTimestamper
from signing.evidence_asic import MIMETYPE, export_document, verify_container
from signing.keys import DEFAULT_PKCS11_MODULE, LoadedKey, load_key
from tests.db_fixtures import migrated_engine_on
from tests.evidence_support import EvidenceWorld
from tests.pki import TestPki
from tests.tsa import TsaServer

HUB_ID = "000.00.00.H41"


@pytest.fixture(scope="module")
def tsa() -> Iterator[TsaServer]:
    with TsaServer() as server:
        yield server


@pytest.fixture
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[EvidenceWorld]:
    backend = getattr(request, "param", "sqlite")
    with migrated_engine_on(request, backend) as engine:
        yield EvidenceWorld.on(engine, tmp_path)


@pytest.fixture(scope="module")
def hub_key(key_files: dict[str, Path]) -> Iterator[LoadedKey]:
    key = load_key(f"file:{key_files['agency.pem']}")
    yield key
    key.close()


@pytest.fixture
def cas(pki: TestPki, tsa: TsaServer) -> list[bytes]:
    return [pki.root.cert.public_bytes(Encoding.DER), tsa.root_cert.public_bytes(Encoding.DER)]


def _scenario(world: EvidenceWorld, tsa: TsaServer) -> str:
    """A document whose events span two timestamped rounds, among others' mail; its doc id."""
    sealer = world.sealer(HttpTimestamper(tsa.url))
    world.deliver(subject="trước")
    target = world.deliver(
        recipients=("000.00.00.H41", "000.00.01.H41"), steps=(Event.DISPATCH_LOCAL,), status=None
    )
    world.deliver(subject="giữa")
    sealer.seal_once()
    world.advance(target.id, Event.FETCH)
    world.deliver(subject="sau")
    sealer.seal_once()
    assert len(world.store.batches()) == 2
    assert target.document_id is not None
    return target.document_id


def _export(world: EvidenceWorld, key: LoadedKey, ref: str) -> bytes:
    return export_document(
        world.store, world.blobs, CmsReceiptSigner(key), ref, hub_id=HUB_ID, now=world.clock.now()
    )


def _rewrite(data: bytes, change: Callable[[dict[str, bytes]], None]) -> bytes:
    """The container with ``change`` applied to its entries (order and mimetype kept)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        files = {i.filename: zf.read(i) for i in zf.infolist()}
    change(files)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), files.pop("mimetype"))
        for name, content in files.items():
            zf.writestr(name, content, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


@pytest.mark.parametrize(
    "world", ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)], indirect=True
)
def test_export_and_verify_round_trip(
    world: EvidenceWorld, tsa: TsaServer, hub_key: LoadedKey, cas: list[bytes]
) -> None:
    ref = _scenario(world, tsa)
    data = _export(world, hub_key, ref)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        first = zf.infolist()[0]
        names = zf.namelist()
        files = {n: zf.read(n) for n in names}
    assert (first.filename, first.compress_type) == ("mimetype", zipfile.ZIP_STORED)
    assert files["mimetype"] == MIMETYPE.encode()
    assert {"META-INF/timestamp-1.tst", "META-INF/timestamp-2.tst"} <= set(names)
    doc = world.store.document(ref)
    assert doc is not None
    assert files["package.edxml"] == world.blobs.get(doc.digest)
    # The chain paths show other documents' events as leaf digests only.
    for n in (1, 2):
        path = json.loads(files[f"META-INF/chainpath-{n}.json"])
        full = [e["event"] for e in path["entries"] if "event" in e]
        assert full
        assert {e["doc_id"] for e in full} == {doc.doc_id}
        assert any("leaf" in e for e in path["entries"])

    # CAdES-BES (EN 319 122-1 §5.2): detached, with the signed attributes it requires.
    for sig in ("META-INF/signature.p7s", "receipt.p7s"):
        signed = asn1_cms.ContentInfo.load(files[sig])["content"]
        assert signed["encap_content_info"]["content"].native is None
        attrs = {a["type"].native for a in signed["signer_infos"][0]["signed_attrs"]}
        assert {"content_type", "message_digest", "signing_certificate_v2"} <= attrs

    report = verify_container(data, cas)
    assert report.ok, report.problems
    # 2 copies × (accepted, available) in round 1, × fetched in round 2.
    assert (report.events_proven, report.events_pending) == (6, 0)
    assert report.document["doc_id"] == doc.doc_id

    # A later event, not sealed yet: reported as pending, the rest still proven.
    world.advance(doc.doc_id, Event.DONE)
    report = verify_container(_export(world, hub_key, doc.doc_id), cas)
    assert report.ok, report.problems
    assert (report.events_proven, report.events_pending) == (6, 2)


@pytest.fixture
def exported(world: EvidenceWorld, tsa: TsaServer, hub_key: LoadedKey) -> bytes:
    return _export(world, hub_key, _scenario(world, tsa))


def test_a_changed_package_byte_fails(exported: bytes, cas: list[bytes]) -> None:
    def change(files: dict[str, bytes]) -> None:
        body = bytearray(files["package.edxml"])
        body[200] ^= 0x01
        files["package.edxml"] = bytes(body)

    report = verify_container(_rewrite(exported, change), cas)
    assert not report.ok
    assert any(p.startswith("package.edxml: its digest") for p in report.problems)
    assert any("SHA-256 is not the statement's" in p for p in report.problems)


def test_a_changed_receipt_fails(exported: bytes, cas: list[bytes]) -> None:
    def change(files: dict[str, bytes]) -> None:
        stmt = json.loads(files["receipt.json"])
        stmt["events"][-1]["event"]["to_state"] = "revoked"
        files["receipt.json"] = json.dumps(stmt).encode()

    report = verify_container(_rewrite(exported, change), cas)
    assert not report.ok
    assert any(p.startswith("receipt.json: its digest") for p in report.problems)
    assert any(p.startswith("receipt.p7s") for p in report.problems)
    assert any("is not the chain's" in p for p in report.problems)


def test_a_swapped_timestamp_fails(exported: bytes, cas: list[bytes]) -> None:
    def change(files: dict[str, bytes]) -> None:
        one, two = files["META-INF/timestamp-1.tst"], files["META-INF/timestamp-2.tst"]
        files["META-INF/timestamp-1.tst"], files["META-INF/timestamp-2.tst"] = two, one

    report = verify_container(_rewrite(exported, change), cas)
    assert not report.ok
    assert any(p.startswith("timestamp-1.tst: ") for p in report.problems)
    assert any(p.startswith("timestamp-2.tst: ") for p in report.problems)


def test_a_manifest_redigested_after_a_change_fails_on_the_signature(
    exported: bytes, cas: list[bytes]
) -> None:
    from signing.evidence_asic import manifest_xml

    def change(files: dict[str, bytes]) -> None:
        files["package.edxml"] = files["package.edxml"].replace(b"</", b" </", 1)
        data = {
            n: c
            for n, c in files.items()
            if n not in ("mimetype", "META-INF/ASiCManifest.xml", "META-INF/signature.p7s")
        }
        files["META-INF/ASiCManifest.xml"] = manifest_xml(data)

    report = verify_container(_rewrite(exported, change), cas)
    assert not report.ok
    assert any(p.startswith("signature.p7s") for p in report.problems)


def test_an_added_unsigned_file_fails(exported: bytes, cas: list[bytes]) -> None:
    report = verify_container(
        _rewrite(exported, lambda f: f.update({"note.txt": b"received"})), cas
    )
    assert "note.txt is not listed in the manifest" in report.problems


def test_without_the_hubs_ca_the_signatures_are_not_trusted(
    exported: bytes, tsa: TsaServer
) -> None:
    report = verify_container(exported, [tsa.root_cert.public_bytes(Encoding.DER)])
    assert not report.ok
    assert any(p.startswith("signature.p7s") for p in report.problems)
    assert not any(p.startswith("timestamp-") for p in report.problems)


def test_openssl_verifies_the_exported_container(
    exported: bytes, pki: TestPki, tsa: TsaServer, tmp_path: Path
) -> None:
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl is on the machine"
    out = tmp_path / "asic"
    with zipfile.ZipFile(io.BytesIO(exported)) as zf:
        zf.extractall(out)
    (tmp_path / "ca.pem").write_bytes(pki.root.cert_pem)
    (tmp_path / "tsa-ca.pem").write_bytes(tsa.root_cert.public_bytes(Encoding.PEM))
    cms = subprocess.run(
        [openssl, "cms", "-verify", "-binary", "-inform", "DER",
         "-in", "META-INF/signature.p7s", "-content", "META-INF/ASiCManifest.xml",
         "-CAfile", str(tmp_path / "ca.pem"), "-out", os.devnull],
        cwd=out, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert cms.returncode == 0, cms.stderr
    assert "Verification successful" in cms.stderr
    for n in (1, 2):
        head = json.loads((out / f"META-INF/chainpath-{n}.json").read_text())["head"]["hash"]
        ts = subprocess.run(
            [openssl, "ts", "-verify", "-digest", head, "-token_in",
             "-in", f"META-INF/timestamp-{n}.tst", "-CAfile", str(tmp_path / "tsa-ca.pem")],
            cwd=out, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert ts.returncode == 0, ts.stderr
        assert "Verification: OK" in ts.stdout
    # And OpenSSL refuses a manifest that is not the signed one.
    manifest = out / "META-INF/ASiCManifest.xml"
    manifest.write_bytes(
        manifest.read_bytes().replace(b"<ds:DigestValue>", b"<ds:DigestValue>A", 1)
    )
    bad = subprocess.run(
        [openssl, "cms", "-verify", "-binary", "-inform", "DER",
         "-in", "META-INF/signature.p7s", "-content", "META-INF/ASiCManifest.xml",
         "-CAfile", str(tmp_path / "ca.pem"), "-out", os.devnull],
        cwd=out, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode != 0


TOKEN, PIN, SO_PIN = "lienthong-evidence", "246810", "13579135"


@pytest.fixture(scope="module")
def token_key(
    pki: TestPki, key_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoadedKey]:
    """The agency key and certificates on a fresh SoftHSM2 token of this module's own."""
    util = shutil.which("softhsm2-util")
    if util is None or not Path(DEFAULT_PKCS11_MODULE).exists():
        pytest.fail("SoftHSM2 is not installed (scripts/services installs softhsm2)")
    base = tmp_path_factory.mktemp("softhsm-evidence")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\n")
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    env = dict(os.environ)
    for args in (
        ["--init-token", "--free", "--label", TOKEN, "--so-pin", SO_PIN, "--pin", PIN],
        ["--import", str(key_files["agency-key.pk8.pem"]), "--token", TOKEN, "--label", "hub",
         "--id", "01", "--pin", PIN],
    ):  # fmt: skip
        subprocess.run([util, *args], check=True, capture_output=True, env=env)
    import pkcs11
    from pkcs11 import Attribute, CertificateType, ObjectClass

    lib = pkcs11.lib(DEFAULT_PKCS11_MODULE)
    lib.reinitialize()  # pick up this module's SOFTHSM2_CONF even if loaded before
    with lib.get_token(token_label=TOKEN).open(rw=True, user_pin=PIN) as session:
        for label, key_id, issued in (
            ("hub", b"\x01", pki.agency),
            ("sub-ca", b"\x09", pki.sub_ca),
        ):
            session.create_object(
                {
                    Attribute.CLASS: ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                    Attribute.TOKEN: True,
                    Attribute.LABEL: label,
                    Attribute.ID: key_id,
                    Attribute.SUBJECT: issued.cert.subject.public_bytes(),
                    Attribute.VALUE: issued.cert.public_bytes(Encoding.DER),
                }
            )
    key = load_key(f"pkcs11:token={TOKEN};object=hub", pin=PIN)
    try:
        yield key
    finally:
        key.close()
        if old is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old


@pytest.mark.integration
def test_receipts_signed_on_a_pkcs11_token_verify(
    world: EvidenceWorld, tsa: TsaServer, token_key: LoadedKey, cas: list[bytes]
) -> None:
    assert token_key.ref.scheme == "pkcs11"
    data = _export(world, token_key, _scenario(world, tsa))
    report = verify_container(data, cas)
    assert report.ok, report.problems
    assert report.events_proven == 6


@pytest.mark.slow
def test_the_cli_exports_and_verifies(
    tmp_path: Path,
    tsa: TsaServer,
    pki: TestPki,
    key_files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from adapters.memory import ManualClock
    from hub.entrypoints.bootstrap import build_hub
    from hub.entrypoints.cli import main
    from hub.settings import load_settings

    data_dir = tmp_path / "data"
    monkeypatch.setenv("LIENTHONG_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LIENTHONG_EVIDENCE_TSA_URL", tsa.url)
    monkeypatch.setenv("LIENTHONG_EVIDENCE_KEY", f"file:{key_files['agency.pem']}")
    with build_hub(load_settings()) as hub:
        world = EvidenceWorld.on(hub.engine, tmp_path, blobs=hub.blobs)
        world.clock = ManualClock(dt.datetime.now(dt.UTC))
        doc = world.deliver()
        # The workers' scheduled job is what seals in production (under its lease).
        job = next(j for j in hub.scheduled if j.name == "evidence-sealer")
        assert job.leader.may_work()
        job.run()
        assert hub.evidence is not None
        assert hub.evidence.store.head()[0] == 5
        assert [(b.from_seq, b.to_seq) for b in hub.evidence.store.batches()] == [(1, 5)]
    (tmp_path / "ca.pem").write_bytes(pki.root.cert_pem)
    (tmp_path / "tsa.pem").write_bytes(tsa.root_cert.public_bytes(Encoding.PEM))
    out = tmp_path / "evidence.asice"
    assert main(["evidence", "export", doc.id, "-o", str(out), "--seal"]) == 0
    capsys.readouterr()
    assert main(["evidence", "chain"]) == 0
    chain = json.loads(capsys.readouterr().out)
    assert chain["ok"] is True
    assert (chain["sealed_rows"], chain["sealed_not_timestamped"]) == (5, 0)
    cas = ["--ca", str(tmp_path / "ca.pem"), str(tmp_path / "tsa.pem")]
    assert main(["evidence", "verify", str(out), *cas]) == 0
    assert "OK: 5 event(s)" in capsys.readouterr().out
    out.write_bytes(_rewrite(out.read_bytes(), lambda f: f.update({"receipt.json": b"{}"})))
    assert main(["evidence", "verify", str(out), *cas, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False
    assert main(["evidence", "export", "no-such-doc", "-o", str(out)]) == 2


def test_an_event_rewritten_in_the_database_after_its_timestamp_cannot_be_exported_as_valid(
    world: EvidenceWorld, tsa: TsaServer, hub_key: LoadedKey, cas: list[bytes]
) -> None:
    ref = _scenario(world, tsa)
    doc = world.store.document(ref)
    assert doc is not None
    seq = next(s.seq for s in world.store.chain() if s.row.doc_id == doc.doc_id)
    # A DBA rewrites the event and re-links the rest of the chain: the database is consistent
    # again, but the timestamped head no longer follows from it.
    world.tamper_event(seq, reason="không nhận được")
    rows = list(world.store.chain())
    relinked = link([r.row for r in rows[seq - 1 :]], seq - 1, rows[seq - 1].prev_hash, chain_canon)
    e = t.delivery_events
    with world.engine.begin() as conn:
        for r in relinked:
            conn.execute(
                sa.update(e).where(e.c.id == r.row.id).values(prev_hash=r.prev_hash, hash=r.hash)
            )
    check = world.sealer(None).verify()
    assert check.broken is None  # link by link, the rewritten chain holds…
    assert any("timestamped head at chain row" in p for p in check.problems)  # …not its heads
    report = verify_container(_export(world, hub_key, ref), cas)
    assert not report.ok
    assert any("does not hash to its head" in p for p in report.problems)
