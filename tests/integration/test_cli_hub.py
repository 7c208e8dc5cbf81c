"""The store-touching commands of ``lienthong``: db, systems, agencies (import and sync from
another hub's VXP façade), queues — run in-process on a temporary data dir."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.entrypoints.bootstrap import build_hub, serve
from hub.entrypoints.cli import main
from hub.settings import load_settings


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def _stored_agencies(data_dir: Path) -> dict[str, str]:
    hub = build_hub(load_settings(env={"LIENTHONG_DATA_DIR": str(data_dir)}))
    try:
        with hub.uow() as uow:
            return {r.code: r.source for r in uow.agencies.list()}
    finally:
        hub.close()


def test_systems_add_list_rotate_disable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(tmp_path)
    code, out = _run(capsys, "db", "upgrade", "--data-dir", d)
    assert code == 0
    assert "up to date" in out
    code, out = _run(
        capsys, "systems", "add", "qlvb.xa", "--agency", "000.00.61.H41", "--data-dir", d
    )
    assert code == 0
    secret = out.split("secret: ", 1)[1].strip()
    assert len(secret) >= 32
    code, out = _run(capsys, "systems", "list", "--json", "--data-dir", d)
    listed = json.loads(out)
    assert listed == [
        {
            "system_id": "qlvb.xa",
            "name": "qlvb.xa",
            "enabled": True,
            "agencies": ["000.00.61.H41"],
            "max_age_s": 300,
        }
    ]
    assert secret not in out  # a secret is printed once, when generated, never listed
    code, out = _run(capsys, "systems", "rotate", "qlvb.xa", "--data-dir", d)
    new_secret = out.split("secret: ", 1)[1].strip()
    assert new_secret != secret
    _run(capsys, "systems", "disable", "qlvb.xa", "--data-dir", d)
    _, out = _run(capsys, "systems", "list", "--data-dir", d)
    assert out.startswith("off qlvb.xa")


def test_agencies_import_national_csv_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "agencies.csv"
    csv.write_text(
        "id,pid,code,name,mail,oldCode\n"
        "1,,000.00.00.H41,Ủy ban nhân dân tỉnh Nghệ An,ubnd@nghean.gov.vn,\n"
        "2,1,000.00.80.H41,Ủy ban nhân dân xã Thử Nghiệm,xa@nghean.gov.vn,\n",
        encoding="utf-8",
    )
    code, out = _run(capsys, "agencies", "import", str(csv), "--data-dir", str(tmp_path / "d"))
    assert code == 0
    assert "2 agencies imported" in out
    stored = _stored_agencies(tmp_path / "d")
    assert stored == {"000.00.00.H41": "import", "000.00.80.H41": "import"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def peer_hub(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """Another hub serving the VXP façade on loopback, with one system registered."""
    settings = load_settings(
        env={"LIENTHONG_DATA_DIR": str(tmp_path / "peer"), "LIENTHONG_VERIFY_SIGNATURES": "0"}
    )
    hub = build_hub(settings)
    secret = hub.services.systems.add("hub.nghean", ["000.00.00.H41"])
    port = _free_port()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(serve(hub, "127.0.0.1", port, workers=False, stop=stop),),
        daemon=True,
    )
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "peer hub did not start"
        time.sleep(0.1)
    yield url, "hub.nghean", secret
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=20)


def test_agencies_sync_from_a_vxp_facade(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    peer_hub: tuple[str, str, str],
) -> None:
    url, system_id, secret = peer_hub
    monkeypatch.setenv("LIENTHONG_NATIONAL_ENDPOINT", url)
    monkeypatch.setenv("LIENTHONG_NATIONAL_SYSTEM_ID", system_id)
    monkeypatch.setenv("LIENTHONG_NATIONAL_SECRET", secret)
    code, out = _run(capsys, "agencies", "sync", "--data-dir", str(tmp_path / "d"))
    assert code == 0
    count = int(out.split("lienthong: ", 1)[1].split()[0])
    stored = _stored_agencies(tmp_path / "d")
    assert count == len(stored) > 20  # the peer's registry: the sample province and more
    assert stored["000.00.00.G22"] == "national"
    assert set(stored.values()) == {"national"}


def test_agencies_sync_refused_keeps_the_stored_registry(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    peer_hub: tuple[str, str, str],
) -> None:
    url, system_id, secret = peer_hub
    monkeypatch.setenv("LIENTHONG_NATIONAL_ENDPOINT", url)
    monkeypatch.setenv("LIENTHONG_NATIONAL_SYSTEM_ID", system_id)
    monkeypatch.setenv("LIENTHONG_NATIONAL_SECRET", secret)
    assert _run(capsys, "agencies", "sync", "--data-dir", str(tmp_path / "d"))[0] == 0
    before = _stored_agencies(tmp_path / "d")
    monkeypatch.setenv("LIENTHONG_NATIONAL_SECRET", "not-the-secret")
    assert main(["agencies", "sync", "--data-dir", str(tmp_path / "d")]) == 1
    err = capsys.readouterr().err
    assert "peer.auth_refused" in err
    assert f"the {len(before)} stored records are kept" in err
    assert "not-the-secret" not in err
    assert _stored_agencies(tmp_path / "d") == before


def test_agencies_sync_without_a_national_axis_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["agencies", "sync", "--data-dir", str(tmp_path)])
    assert code == 2
    assert "national.not_configured" in capsys.readouterr().err


def test_queues_report_every_queue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, "queues", "--json", "--data-dir", str(tmp_path))
    assert code == 0
    frame = json.loads(out)
    rows = frame["broker"]["queues"]
    assert [r["queue"] for r in rows] == ["lienthong.dispatch", "lienthong.forward"]
    assert all(r["ready"] == r["delayed"] == r["dead"] == 0 for r in rows)
    assert (frame["deliveries"], frame["store_error"], frame["broker"]["error"]) == ([], None, None)


def test_audit_verify_proves_the_chain_and_names_an_edited_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    d = str(tmp_path)
    for n in range(3):  # each leaves an audit row
        code, _ = _run(
            capsys, "systems", "add", f"qlvb.{n}", "--agency", f"000.00.6{n}.H41", "--data-dir", d
        )
        assert code == 0
    hub = build_hub(load_settings(env={"LIENTHONG_DATA_DIR": d}))
    try:
        assert hub.sealer is not None
        assert hub.sealer.seal_once() == 3  # what a worker does every 2 s
    finally:
        hub.close()
    code, out = _run(capsys, "audit", "verify", "--data-dir", d)
    assert code == 0, out
    assert "sealed rows: 3" in out
    assert (tmp_path / "audit-anchors.jsonl").read_text().count("\n") == 1
    with sqlite3.connect(tmp_path / "hub.db") as db:
        db.execute("UPDATE audit SET actor = 'someone-else' WHERE chain_seq = 2")
    code, out = _run(capsys, "audit", "verify", "--json", "--data-dir", d)
    assert code == 1
    report = json.loads(out)
    assert report["broken"]["seq"] == 2
    assert report["broken"]["reason"] == "edited"
