"""The operators' commands through the real entry point on a real data dir: ``deadletters
list | redrive | discard``, ``trace``, ``queues`` (``--json`` and ``--watch`` in a pseudo-
terminal), ``agencies list``. The store is SQLite in the data dir and, for the dead-letter
actions, a fresh PostgreSQL database too."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.delivery import Event, State, advance
from hub.entrypoints.bootstrap import build_hub
from hub.entrypoints.cli import main
from hub.entrypoints.cli_ops import actor
from hub.entrypoints.cli_queues import CLEAR
from hub.settings import load_settings
from tests.db_fixtures import PostgresServer
from tests.factories import make_edoc, make_status

SENDER = "000.00.00.H41"  # hosted by qlvb.ubnd
LOCAL_TO = "000.00.02.H41"  # hosted by qlvb.so
UNKNOWN_TO = "000.99.99.H41"  # hosted by nobody → undeliverable at intake
NATIONAL_TO = "000.00.00.G22"  # outside the scope → the national axis (made dead below)
REASON = "Cơ quan nhận đã giải thể; gửi lại bằng bưu chính"


@dataclasses.dataclass(frozen=True)
class Site:
    """A data dir with one pushed document: a local, an undeliverable and a dead delivery,
    and a status 03 the local recipient sent back."""

    data_dir: str
    doc_id: str
    document_id: str
    status_doc_id: str
    local: str
    undeliverable: str
    dead: str

    def argv(self, *args: str) -> list[str]:
        return [*args, "--data-dir", self.data_dir]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _make_site(data_dir: Path) -> Site:
    d = str(data_dir)
    assert main(["systems", "add", "qlvb.ubnd", "--agency", SENDER, "--data-dir", d]) == 0
    assert main(["systems", "add", "qlvb.so", "--agency", LOCAL_TO, "--data-dir", d]) == 0
    with build_hub(load_settings(env={**os.environ, "LIENTHONG_DATA_DIR": d})) as hub:
        pushed = hub.services.push(
            "qlvb.ubnd", make_edoc(sender=SENDER, to=[LOCAL_TO, UNKNOWN_TO, NATIONAL_TO])
        )
        ids = {r.recipient: r.delivery_id for r in pushed.recipients}
        with hub.uow() as uow:
            doc = uow.documents.get(pushed.doc_id)
            assert doc is not None
            assert doc.document_id is not None
            # The national axis stayed down past the give-up age (what the forwarder records).
            row = uow.deliveries.get(ids[NATIONAL_TO])
            assert row is not None
            now = hub.clock.now()
            for event in (Event.DISPATCH_REMOTE, Event.FORWARD_FAILED, Event.GIVE_UP):
                row = advance(uow.deliveries, row, event, at=now, reason="peer.unavailable")
            uow.commit()
        status = hub.services.push(
            "qlvb.so",
            make_status(
                sender=LOCAL_TO,
                response_to=SENDER,
                document_id=doc.document_id,
                status_code="03",
            ),
        )
    return Site(
        d,
        pushed.doc_id,
        doc.document_id,
        status.doc_id,
        ids[LOCAL_TO],
        ids[UNKNOWN_TO],
        ids[NATIONAL_TO],
    )


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return _make_site(tmp_path / "data")


def _state(site: Site, delivery_id: str) -> str:
    with (
        build_hub(load_settings(env={**os.environ, "LIENTHONG_DATA_DIR": site.data_dir})) as hub,
        hub.uow() as uow,
    ):
        row = uow.deliveries.get(delivery_id)
        assert row is not None
        return row.state


# ---------------------------------------------------------------------------- deadletters


def test_deadletters_list_json_and_filters(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, *site.argv("deadletters", "list", "--json"))
    assert code == 0
    listed = json.loads(out)
    assert {r["delivery_id"]: r["state"] for r in listed} == {
        site.undeliverable: "undeliverable",
        site.dead: "dead",
    }
    dead = next(r for r in listed if r["delivery_id"] == site.dead)
    assert (dead["recipient"], dead["route"], dead["sender_system"], dead["doc_id"]) == (
        NATIONAL_TO,
        "national",
        "qlvb.ubnd",
        site.doc_id,
    )
    assert (dead["redrivable"], dead["discardable"], dead["attempts"]) == (True, True, 1)
    assert dead["last_error"] == "peer.unavailable"
    assert dead["updated_at"].endswith("+00:00")

    for filters, expected in [
        (("--peer", "national"), [site.dead]),
        (("--system", "qlvb.so"), []),
        (("--system", "qlvb.ubnd"), [site.undeliverable, site.dead]),
    ]:
        _, out, _ = _run(capsys, *site.argv("deadletters", "list", "--json", *filters))
        assert sorted(r["delivery_id"] for r in json.loads(out)) == sorted(expected), filters
    _, out, _ = _run(capsys, *site.argv("deadletters", "list", "--json", "--limit", "1"))
    assert len(json.loads(out)) == 1

    code, out, _ = _run(capsys, *site.argv("deadletters", "list"))
    assert out.splitlines()[0] == "2 dead letters"
    assert site.dead in out
    assert site.undeliverable in out


def test_deadletters_discard_needs_a_reason_and_is_audited(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, *site.argv("deadletters", "discard", site.dead, "--reason", " "))
    assert code == 2
    assert "discard.reason_required" in err
    assert _state(site, site.dead) == State.DEAD

    code, out, _ = _run(
        capsys,
        *site.argv("deadletters", "discard", site.dead, site.local, "--reason", REASON),
    )
    assert code == 1  # the local copy is in its inbox: named but not moved
    assert "1 deliveries discarded" in out
    assert site.local in out
    assert _state(site, site.dead) == State.DISCARDED
    assert _state(site, site.local) == State.AVAILABLE

    _, out, _ = _run(capsys, *site.argv("audit", "--json", "--action", "delivery.discard"))
    [entry] = json.loads(out)
    assert (entry["actor"], entry["details"]["reason"], entry["details"]["deliveries"]) == (
        actor(),
        REASON,
        [site.dead],
    )
    assert entry["actor"].startswith("cli")
    _, out, _ = _run(capsys, *site.argv("deliveries", "--state", "discarded", "--json"))
    [row] = json.loads(out)
    assert (row["delivery_id"], row["last_error"]) == (site.dead, REASON)
    _, out, _ = _run(capsys, *site.argv("deadletters", "list", "--json"))
    assert [r["delivery_id"] for r in json.loads(out)] == [site.undeliverable]


def test_deadletters_redrive_all_asks_unless_yes(
    site: Site, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # noqa: SIM115 — no terminal to ask on
    code, _, err = _run(capsys, *site.argv("deadletters", "redrive", "--all"))
    assert code == 2
    assert "--yes" in err
    assert _state(site, site.dead) == State.DEAD

    code, _, err = _run(capsys, *site.argv("deadletters", "redrive", site.dead, "--all"))
    assert code == 2

    code, out, err = _run(
        capsys, *site.argv("deadletters", "redrive", "--all", "--peer", "national", "--yes")
    )
    assert code == 0
    assert "1 deliveries put back to queued" in out
    assert err == ""  # no terminal: no progress bar
    assert _state(site, site.dead) == State.QUEUED
    assert _state(site, site.undeliverable) == State.UNDELIVERABLE  # outside the filter
    _, out, _ = _run(capsys, *site.argv("audit", "--json", "--action", "delivery.redrive"))
    assert json.loads(out)[0]["details"]["deliveries"] == [site.dead]


def test_deadletters_discard_all_with_filters(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, *site.argv("deadletters", "discard", "--all", "--reason", ""))
    assert code == 2
    assert "discard.reason_required" in err
    code, out, _ = _run(
        capsys,
        *site.argv(
            "deadletters", "discard", "--all", "--system", "qlvb.ubnd", "--peer", "none",
            "--reason", REASON, "--yes",
        ),
    )  # fmt: skip
    assert code == 0, out
    assert "1 deliveries discarded" in out
    assert (_state(site, site.undeliverable), _state(site, site.dead)) == ("discarded", "dead")


def test_deadletters_on_postgresql(
    tmp_path: Path,
    postgres_server: PostgresServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIENTHONG_DATABASE_URL", postgres_server.create())
    site = _make_site(tmp_path / "data")
    assert not (tmp_path / "data" / "hub.db").exists()  # the rows are in PostgreSQL
    code, out, _ = _run(
        capsys, *site.argv("deadletters", "discard", site.undeliverable, "--reason", REASON)
    )
    assert code == 0, out
    code, out, _ = _run(capsys, *site.argv("deadletters", "redrive", site.dead))
    assert code == 0, out
    assert (_state(site, site.undeliverable), _state(site, site.dead)) == ("discarded", "queued")
    _, out, _ = _run(capsys, *site.argv("audit", "--json", "--action", "delivery."))
    actions = [r["action"] for r in json.loads(out)]
    assert actions == ["delivery.redrive", "delivery.discard"]


# ---------------------------------------------------------------------------------- trace


def test_trace_json_has_every_hop_in_time_order(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, *site.argv("trace", site.doc_id, "--json"))
    assert code == 0
    [trace] = json.loads(out)
    assert (trace["doc_id"], trace["document_id"], trace["sender_system"]) == (
        site.doc_id,
        site.document_id,
        "qlvb.ubnd",
    )
    hops = trace["hops"]
    assert [h["at"] for h in hops] == sorted(h["at"] for h in hops)
    assert [h["kind"] for h in hops[:2]] == ["accepted", "verdicts"]
    by_delivery: dict[str, list[str]] = {}
    for h in hops:
        if h["kind"] == "delivery":
            by_delivery.setdefault(h["delivery_id"], []).append(h["details"]["to_state"])
    assert by_delivery[site.local] == ["queued", "available"]  # both steps in the push
    assert by_delivery[site.dead] == ["queued", "forwarding", "retry_wait", "dead"]
    assert by_delivery[site.undeliverable] == ["queued", "undeliverable"]
    [status] = [h for h in hops if h["kind"] == "status"]
    assert (status["delivery_id"], status["recipient"]) == (site.local, LOCAL_TO)
    assert "status 03" in status["text"]
    [related] = [h for h in hops if h["kind"] == "related"]
    assert related["details"] == {"action": "status", "doc_id": site.status_doc_id}

    # The same document by its edXML DocumentId and by a receiver's delivery id.
    for term in (site.document_id, site.dead):
        _, out, _ = _run(capsys, *site.argv("trace", term, "--json"))
        assert [t["doc_id"] for t in json.loads(out)] == [site.doc_id]
    # The status message links back to what it is about.
    _, out, _ = _run(capsys, *site.argv("trace", site.status_doc_id, "--json"))
    [link] = [h for h in json.loads(out)[0]["hops"] if h["kind"] == "link"]
    assert link["details"] == {"action": "status about", "doc_id": site.doc_id}


def test_trace_text_and_unknown(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, *site.argv("trace", site.doc_id))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"DocId {site.doc_id}  edoc  DocumentId {site.document_id}")
    hop_lines = [ln for ln in lines if ln[:4].isdigit()]
    assert [ln[:20] for ln in hop_lines] == sorted(ln[:20] for ln in hop_lines)
    assert any("retry_wait → dead (peer.unavailable)" in ln for ln in hop_lines)
    code, _, err = _run(capsys, *site.argv("trace", "no-such-document"))
    assert code == 2
    assert "document.unknown" in err


# --------------------------------------------------------------------------------- queues


def test_queues_json_shows_waiting_per_route_and_destination(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, *site.argv("queues", "--json"))
    assert code == 0
    frame = json.loads(out)
    rows = {(r["route"], r["destination"], r["state"]): r for r in frame["deliveries"]}
    assert set(rows) == {
        ("local", "qlvb.so", "available"),
        ("local", "qlvb.ubnd", "available"),  # the status message back in the sender's inbox
        ("national", None, "dead"),
        ("none", None, "undeliverable"),
    }
    assert all(r["count"] == 1 and r["oldest_age_s"] >= 0 for r in rows.values())
    assert [q["queue"] for q in frame["broker"]["queues"]] == [
        "lienthong.dispatch",
        "lienthong.forward",
    ]


def _read_frames(fd: int, count: int, timeout_s: float) -> str:
    out = b""
    deadline = time.monotonic() + timeout_s
    while out.count(CLEAR.encode()) < count + 1 and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
    return out.decode("utf-8", "replace")


def _ctrl_c_default() -> None:
    """In the child: Ctrl-C as in a terminal's foreground job, even when this test runs in a
    background job (which starts with SIGINT ignored, and a child inherits that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def _in_terminal(env: dict[str, str], *args: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``lienthong <args>`` with a terminal (a pty) as standard input and output and Ctrl-C at
    its default, as a foreground job has it; yields the process and the terminal's leader end.
    When the block ends, the process is killed if it still runs and the terminal is closed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.entrypoints.cli", *args],
        stdin=follower,
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=_ctrl_c_default,
    )
    os.close(follower)
    try:
        yield proc, leader
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)


def _interrupted(proc: subprocess.Popen[bytes], leader: int, timeout_s: float = 30) -> int | None:
    """Ctrl-C, as a terminal sends it; the exit code. The terminal and standard error keep being
    read meanwhile, as a terminal does (a full buffer must not be what stops the exit);
    what the process wrote to standard error is in the failure message."""
    proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            with contextlib.suppress(OSError):
                os.read(leader, 65536)
    code = proc.poll()
    if code is None:
        proc.kill()
    _, err = proc.communicate(timeout=10)
    assert code == 0, f"exit {code} after Ctrl-C; stderr: {err.decode('utf-8', 'replace')[-3000:]}"
    return code


@pytest.fixture
def watch_env(site: Site) -> dict[str, str]:
    # Only the site's settings: nothing another test left in this process' LIENTHONG_* variables.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    return {**env, "LIENTHONG_DATA_DIR": site.data_dir}


def test_queues_watch_redraws_in_a_terminal_until_ctrl_c(
    site: Site, watch_env: dict[str, str]
) -> None:
    with _in_terminal(watch_env, "queues", "--watch", "0.3") as (proc, leader):
        text = _read_frames(leader, 2, timeout_s=60)
        frames = text.split(CLEAR)[1:]
        assert len(frames) >= 2, text
        for frame in frames[:2]:
            assert "lienthong queues" in frame
            assert "every 0.3 s" in frame
            assert "qlvb.so" in frame
            assert "lienthong.dispatch" in frame
        assert _interrupted(proc, leader) == 0


def test_queues_watch_without_a_terminal_prints_one_frame(watch_env: dict[str, str]) -> None:
    cmd = [sys.executable, "-m", "hub.entrypoints.cli", "queues", "--watch", "0.2"]
    done = subprocess.run(cmd, capture_output=True, env=watch_env, timeout=60, check=True)
    out = done.stdout.decode()
    assert CLEAR not in out
    assert out.count("lienthong queues") == 1
    done = subprocess.run(
        [*cmd, "--json"], capture_output=True, env=watch_env, timeout=60, check=True
    )
    assert json.loads(done.stdout)["broker"]["error"] is None


# ------------------------------------------------------------------------------- agencies


def test_agencies_list_json_and_import_quiet_off_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = str(tmp_path / "d")
    rows = "".join(f"{n},1,000.00.{n:02d}.K99,Xã thử {n},,\n" for n in range(2, 60))
    csv = tmp_path / "agencies.csv"
    csv.write_text("id,pid,code,name,mail,oldCode\n1,,000.00.00.K99,Tỉnh thử,,\n" + rows)
    code, out, err = _run(capsys, "agencies", "import", str(csv), "--data-dir", d)
    assert (code, err) == (0, "")
    assert "59 agencies imported" in out
    code, out, _ = _run(capsys, "agencies", "list", "--json", "--search", "k99", "--data-dir", d)
    listed = json.loads(out)
    assert len(listed) == 59
    assert listed[0]["code"] == "000.00.00.K99"
    assert listed[1] == {
        "code": "000.00.02.K99",
        "name": "Xã thử 2",
        "code_qd20": None,
        "parent_code": "000.00.00.K99",
        "level": listed[1]["level"],
        "system_id": None,
        "valid_from": None,
        "valid_to": None,
        "successor_code": None,
        "email": None,
        "former_codes": [],
    }
    _, out, _ = _run(capsys, "agencies", "list", "--limit", "2", "--data-dir", d)
    assert len(out.splitlines()) == 2


def test_deliveries_json_is_unchanged_for_scripts(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    """The keys ``deliveries --json`` always had are still there (others were added)."""
    _, out, _ = _run(capsys, *site.argv("deliveries", "--state", "dead", "--json"))
    [row] = json.loads(out)
    assert {
        "delivery_id",
        "doc_id",
        "recipient",
        "route",
        "state",
        "attempts",
        "last_error",
        "updated_at",
        "sender",
        "subject",
    } <= set(row)


@pytest.fixture(autouse=True)
def _no_stray_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIENTHONG_DATABASE_URL", raising=False)


def test_inbound_list_json_and_the_origin_in_the_trace(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    from hub.edxml.model import MessageKind
    from hub.ports import InboundRow

    env = {**os.environ, "LIENTHONG_DATA_DIR": site.data_dir}
    with build_hub(load_settings(env=env)) as hub, hub.uow() as uow:
        doc = uow.documents.get(site.doc_id)
        assert doc is not None
        uow.inbound.add(
            InboundRow(
                "national", "axis-42", MessageKind.EDOC, "accepted", None, doc.id, doc.digest,
                doc.received_at,
            )
        )  # fmt: skip
        uow.commit()
    code, out, _ = _run(capsys, *site.argv("inbound", "list", "--json"))
    assert code == 0
    [item] = json.loads(out)
    assert (item["peer"], item["remote_id"], item["doc_id"], item["acked_at"]) == (
        "national",
        "axis-42",
        site.doc_id,
        None,
    )
    _, out, _ = _run(capsys, *site.argv("trace", site.doc_id, "--json"))
    origin = json.loads(out)[0]["hops"][0]
    assert origin["kind"] == "origin"
    assert origin["details"]["remote_id"] == "axis-42"


def test_queues_watch_json_in_a_terminal_is_one_object_per_line(
    site: Site, watch_env: dict[str, str]
) -> None:
    with _in_terminal(watch_env, "queues", "--watch", "0.3", "--json") as (proc, leader):
        out = b""
        deadline = time.monotonic() + 60
        while out.count(b"\n") < 2 and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.2)[0]:
                out += os.read(leader, 65536)
        lines = out.decode().splitlines()[:2]
        frames = [json.loads(line) for line in lines]
        assert len(frames) == 2
        assert frames[0]["at"] < frames[1]["at"]
        assert all(f["store_error"] is None for f in frames)
        assert CLEAR not in out.decode()
        assert _interrupted(proc, leader) == 0
