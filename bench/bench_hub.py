"""The hub end to end: systems push through the VXP façade while the recipient pulls and acks.

What runs (one backend at a time, each a fresh store):

* **the hub** — ``bench/hub_server.py`` (the composition root of ``lienthong``, with stage timers)
  as real server processes on 127.0.0.1: ``serve`` + ``worker`` on PostgreSQL + RabbitMQ (the
  production layout), ``run`` (API and workers in one process) on the embedded defaults (SQLite
  + the broker in the database);
* **the load generator** — this process: ``--pushers`` threads, each a keep-alive
  :class:`adapters.vxp_client.VxpClient` of its own sender system (HMAC-signed with
  :func:`hub.vxp.wire.sign_headers`, verified for real by the façade), and two recipient threads
  polling ``getReceivedEdocList`` then ``downloadEdoc`` + ``updateStatus done`` per item.

Workloads: ``status`` — status messages of 5,167 bytes, a little above the goal's 4 KB (distinct:
a counter in the description);
``edoc`` — an edoc carrying a ≈ 200 KB PDF signed by the test PKI's agency certificate, the hub's
trust anchor set to that PKI's root so the verdict is real. Every package is distinct (counter in
the DocumentId / CodeNumber) but they carry the same signed PDF: the PDF verifier caches its
verdict by the PDF's digest, so after the first package the PDF signature check is a cache hit —
the figures say so. Envelopes are unsigned (policy flags ``signature.missing``).

Latency push→available is read from the database after the run: per delivery created in the
window, ``delivery_events.at`` of its ``queued → available`` event minus ``deliveries.created_at``
(the intake's clock, taken after parse and checks, before the commit); the client-side push round
trip (whole HTTP call) is reported beside it. Since the accepting transaction makes a copy for
a system of this hub available itself, that interval is 0 for every local copy: the copy is in
the inbox when the push is answered, so the push round trip *is* push→available.

Stage costs come from the same run (``bench/hub_server.py`` timers, reset after the warm-up);
process CPU from ``/proc`` (hub processes, PostgreSQL, RabbitMQ, this load generator).

Usage::

    python bench/bench_hub.py --backend pg --kind status --seconds 20
    python bench/bench_hub.py --backend embedded --kind edoc --rate 50
    python bench/bench_hub.py --backend embedded --kind status --sqlite-synchronous normal
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import yaml  # noqa: E402

from adapters.vxp_client import VxpClient  # noqa: E402
from bench.loadgen import RawLoad, send_edoc_request  # noqa: E402
from hub.edxml.model import MessageKind  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Engineers measuring at once on one machine each name their own database and vhost.
PG_DB = os.environ.get("BENCH_HUB_DB", "bench_hub")
VHOST = os.environ.get("BENCH_HUB_VHOST", "bench_hub")
RECIPIENT = ("bench.recv", "000.00.01.H41")
SENDER_AGENCIES = ("000.00.02.H41", "000.00.03.H41", "000.00.04.H41", "000.00.05.H41")
SECRET = "bench-secret-0123456789abcdef"
MARK = b"QXZMARK000000"  # replaced by a same-length counter in every package


# ------------------------------------------------------------------------------ backends


@contextlib.contextmanager
def backend(name: str, data_dir: Path) -> Iterator[dict[str, str]]:
    """The ``LIENTHONG_*`` environment of a fresh store on ``name``; dropped afterwards."""
    env = {"LIENTHONG_DATA_DIR": str(data_dir)}
    if name == "embedded":
        yield env
        return
    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
        c.execute(sa.text(f"CREATE DATABASE {PG_DB}"))
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", VHOST], capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", VHOST], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    env["LIENTHONG_DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}"
    env["LIENTHONG_BROKER_URL"] = f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"
    try:
        yield env
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", VHOST], capture_output=True)
        with admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
        admin.dispose()


def write_settings(
    work: Path, anchors: Path, intake_batch: int | None = None, intake_lanes: int | None = None
) -> Path:
    raw = yaml.safe_load((ROOT / "config" / "settings.yaml").read_text(encoding="utf-8"))
    raw["signatures"]["trust_anchors"] = [str(anchors)]
    if intake_batch is not None:  # limits.intake_batch: 1 writes every push alone
        raw["limits"]["intake_batch"] = intake_batch
    if intake_lanes is not None:
        raw["limits"]["intake_lanes"] = intake_lanes
    path = work / "settings.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def register_systems(env: dict[str, str]) -> None:
    from hub.entrypoints.bootstrap import build_hub
    from hub.settings import load_settings

    hub = build_hub(load_settings(None, env), verifier=None)
    try:
        admin = hub.services.systems
        admin.add(RECIPIENT[0], [RECIPIENT[1]], secret=SECRET)
        for i, code in enumerate(SENDER_AGENCIES):
            admin.add(f"bench.send{i}", [code], secret=SECRET)
    finally:
        hub.close()


# ------------------------------------------------------------------------------ packages


def scanned_pdf(size: int = 200_000) -> bytes:
    """A one-page PDF carrying a ≈ ``size`` byte page image of random bytes: like a scanned
    document, it does not shrink in the package's ZIP (a padded text PDF would, to ≈ 15 KB)."""
    image = random.Random(7).randbytes(size)
    content = b"q 595 0 0 842 0 0 cm /Im1 Do Q\nBT /F1 12 Tf 72 800 Td (Scan) Tj ET\n"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 3 0 R >> /XObject << /Im1 6 0 R >> >> /Contents 5 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height 1 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Length %d >>\nstream\n" % (size, size) + image + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def signed_pdf(work: Path, revocation: Any) -> tuple[bytes, Path]:
    """A ≈ 200 KB PDF with the agency's attachment signature; the trust anchor file.

    ``revocation`` is a started :class:`tests.pki.RevocationServer`: the certificates point at
    its CRL and OCSP URLs, so the hub's trust check finds revocation data (``valid``, not
    ``unknown_revocation``)."""
    from signing.pdf_sign import PdfSigningService, SignatureRole, SignRequest
    from tests.pki import build_pki
    from tests.unit.signing.pdf.pdfkit import signer_for

    pki = build_pki(
        crl_url=revocation.crl_url,
        ocsp_url=revocation.ocsp_url,
        root_crl_url=revocation.root_crl_url,
    )
    revocation.pki = pki
    anchors = work / "anchors.pem"
    anchors.write_bytes(pki.anchors_pem)
    service = PdfSigningService(signer_for(pki.agency, [pki.sub_ca.cert]))
    pdf = service.sign(scanned_pdf(), SignRequest(SignatureRole.ATTACHMENT, number="12/UBND"))
    return pdf, anchors


def templates(kind: str, pdf: bytes | None) -> list[bytes]:
    """One package per sender agency, with :data:`MARK` where the counter goes."""
    from tests.factories import make_edoc, make_status, pdf_attachment

    out = []
    mark = MARK.decode()
    for code in SENDER_AGENCIES:
        if kind == "status":
            pad = "Đã đến - văn thư đã nhận. " * 200
            base = make_status(
                sender=code,
                response_to=RECIPIENT[1],
                document_id=f"{RECIPIENT[1]},2026/11/20,{mark}/UBND",
                description=f"{mark} {pad}",
            )
            # Trim the padding towards 4 KB. The cut counts characters against a byte excess, so
            # the result is 5,167 bytes (Vietnamese letters take two or three bytes): the
            # recorded results use exactly this size.
            extra = len(base) - 4096
            if extra > 0:
                base = make_status(
                    sender=code,
                    response_to=RECIPIENT[1],
                    document_id=f"{RECIPIENT[1]},2026/11/20,{mark}/UBND",
                    description=f"{mark} {pad[: len(pad.encode()) - extra - 8]}".strip(),
                )
        else:
            assert pdf is not None
            base = make_edoc(
                sender=code,
                to=[RECIPIENT[1]],
                code_number=mark,
                subject=f"V/v thử tải {mark}",
                attachments=[pdf_attachment("vanban.pdf", data=pdf)],
            )
        assert MARK in base
        out.append(base)
    return out


class Feed:
    """Distinct packages on demand: the template with a fresh counter (thread-safe)."""

    def __init__(self, templates: list[bytes]) -> None:
        self.templates = templates
        self._n = random.randrange(10**6) * 10**6
        self._lock = threading.Lock()

    def next(self, sender: int) -> bytes:
        with self._lock:
            self._n += 1
            n = self._n
        return self.templates[sender].replace(MARK, f"QXZ{n:010d}".encode())


# ------------------------------------------------------------------------------ processes


def cpu_of(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def postgres_cpu(database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL process that serves this run: the backends connected to
    ``database``, the server's own background processes (WAL writer, checkpointer, background
    writer, autovacuum) and the backends that ended (the postmaster's reaped children), by pid.
    Live backends of other databases (another bench on the machine) are left out. Sum a later
    reading's values minus an earlier reading's, pid by pid: a backend that starts inside the
    window counts from zero."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for pid in pids_named("postgres"):
        with contextlib.suppress(OSError):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            words = cmd.split()  # "postgres: 15/main: <user> <database> <host(port)> <state>"
            client = len(words) > 4 and ("(" in words[4] or words[4] == "[local]")
            if client and words[3] != database:
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            # The postmaster (no "postgres:" title) also carries its ended backends' CPU
            # (cutime, cstime): a backend that ends inside the window still counts. On a
            # machine where another database's backends end meanwhile, theirs count too.
            own = fields[11:15] if not cmd.startswith("postgres:") else fields[11:13]
            out[pid] = sum(int(f) for f in own) / tick
    return out


def postgres_window(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def pids_named(*names: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError):
                if (d / "comm").read_text().strip() in names:
                    out.append(int(d.name))
    return out


def broker_pids() -> list[int]:
    """The machine's own RabbitMQ node, the hub's broker: ``beam.smp`` processes not started
    for another node. The test suite keeps a three-node cluster (``lt1``–``lt3@localhost``,
    ``RABBITMQ_NODENAME`` in their environment) running between runs; idle, it costs ≈ 3 % of
    a core, which counted as the broker's would add ≈ 0.5 ms per package at 60/s."""
    out = []
    for pid in pids_named("beam.smp"):
        with contextlib.suppress(OSError):
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            name = next((e[18:] for e in env if e.startswith(b"RABBITMQ_NODENAME=")), b"rabbit@")
            if name.startswith(b"rabbit@"):
                out.append(pid)
    return out


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine from /proc/stat."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / tick, sum(v[:8]) / tick


def start(
    role: str, env: dict[str, str], port: int, stats: Path, *, reuse_port: bool = False
) -> subprocess.Popen[str]:
    full = {**os.environ, **env, "BENCH_STATS_OUT": str(stats)}
    argv = [sys.executable, str(ROOT / "bench" / "hub_server.py"), role, "--port", str(port)]
    proc = subprocess.Popen(
        argv + (["--reuse-port"] if reuse_port else []),
        env=full,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ready" not in line:
        raise RuntimeError(f"hub {role} did not start: {line!r}")
    return proc


def wait_http(url: str) -> None:
    for _ in range(200):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError("the hub did not answer /healthz")


# ------------------------------------------------------------------------------ load


class Load:
    def __init__(self, url: str, feed: Feed, kind: str, pushers: int, rate: float | None) -> None:
        self.url, self.feed, self.kind = url, feed, MessageKind(kind)
        self.pushers, self.rate = pushers, rate
        self.stop = threading.Event()
        self.measuring = False
        self.push_lat: list[float] = []
        self.pushed = 0
        self.errors: list[str] = []
        self.pulled = 0
        self.acked = 0
        self._lock = threading.Lock()

    def pusher(self, i: int) -> None:
        sender = i % len(SENDER_AGENCIES)
        client = VxpClient(self.url, f"bench.send{sender}", SECRET, http=httpx.Client(timeout=60))
        interval = self.pushers / self.rate if self.rate else 0.0
        due = time.perf_counter() + random.random() * interval
        while not self.stop.is_set():
            if interval:
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                due += interval
            data = self.feed.next(sender)
            t0 = time.perf_counter()
            try:
                client.send_edoc(data, from_code=SENDER_AGENCIES[sender], kind=self.kind)
            except Exception as exc:
                with self._lock:
                    self.errors.append(repr(exc)[:200])
                continue
            dt_ = time.perf_counter() - t0
            if self.measuring:
                with self._lock:
                    self.pushed += 1
                    self.push_lat.append(dt_)

    def puller(self, k: int, of: int) -> None:
        client = VxpClient(self.url, RECIPIENT[0], SECRET, http=httpx.Client(timeout=60))
        while not self.stop.is_set():
            try:
                items = client.get_received_edoc_list(self.kind)
                mine = [i for i in items if hash(i.doc_id) % of == k]
                for item in mine:
                    client.download_edoc(item.doc_id)
                    client.update_status(item.doc_id, "done")
                    if self.measuring:
                        with self._lock:
                            self.acked += 1
            except Exception as exc:
                with self._lock:
                    self.errors.append("pull " + repr(exc)[:200])
                mine = []
            if not mine:
                time.sleep(0.02)


def raw_load(args: argparse.Namespace, port: int, feed: Feed) -> RawLoad:
    """The asyncio generator over prepared requests (enough for the whole run at the target
    rate, or ``--prepare`` of them at the maximum rate)."""
    host = f"127.0.0.1:{port}"

    def make_request(sender: int) -> bytes:
        return send_edoc_request(
            "/vxp",
            host,
            f"bench.send{sender}",
            SECRET,
            SENDER_AGENCIES[sender],
            args.kind,
            feed.next(sender),
        )

    horizon = args.warmup + args.seconds + 5
    prepare = int(args.rate * horizon) if args.rate else args.prepare
    return RawLoad(
        "127.0.0.1",
        port,
        "/vxp",
        args.pushers,
        args.rate,
        make_request,
        len(SENDER_AGENCIES),
        None if args.no_pull else RECIPIENT,
        SECRET,
        args.kind,
        prepare,
        args.pullers,
    )


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def latency_from_db(env: dict[str, str], since: Any, until: Any) -> tuple[list[float], int]:
    """created_at → queued→available event, for deliveries created in [since, until); and how
    many deliveries became available in that window (routed into inboxes while measuring)."""
    import sqlalchemy as sa

    from adapters.store.engine import create_engine
    from adapters.store.tables import deliveries, delivery_events
    from hub.settings import load_settings

    engine = create_engine(load_settings(None, env).database_url)
    q = (
        sa.select(deliveries.c.created_at, delivery_events.c.at)
        .join(delivery_events, delivery_events.c.delivery_id == deliveries.c.id)
        .where(delivery_events.c.to_state == "available")
        .where(deliveries.c.created_at >= since, deliveries.c.created_at < until)
    )
    routed_q = (
        sa.select(sa.func.count())
        .select_from(delivery_events)
        .where(delivery_events.c.to_state == "available")
        .where(delivery_events.c.at >= since, delivery_events.c.at < until)
    )
    with engine.connect() as c:
        rows = c.execute(q).all()
        routed = c.execute(routed_q).scalar_one()
    engine.dispose()
    return [(at - created).total_seconds() for created, at in rows], routed


def verdicts_from_db(env: dict[str, str], since: Any, until: Any) -> dict[str, int]:
    """How many documents of the window got each (envelope, PDF checked, PDF bad) verdict."""
    import sqlalchemy as sa

    from adapters.store.engine import create_engine
    from adapters.store.tables import documents
    from hub.settings import load_settings

    engine = create_engine(load_settings(None, env).database_url)
    q = sa.select(documents.c.verdicts).where(
        documents.c.received_at >= since, documents.c.received_at < until
    )
    counts: dict[str, int] = {}
    with engine.connect() as c:
        for (v,) in c.execute(q):
            key = f"envelope={v.get('envelope')} pdf_checked={v.get('pdf_checked')} "
            key += f"pdf_bad={v.get('pdf_bad')}"
            counts[key] = counts.get(key, 0) + 1
    engine.dispose()
    return counts


def run(args: argparse.Namespace) -> dict[str, Any]:
    import datetime as dt

    from tests.pki import RevocationServer

    work = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    revocation = RevocationServer().start()
    pdf, anchors = signed_pdf(work, revocation)
    feed = Feed(templates(args.kind, pdf if args.kind == "edoc" else None))
    port = args.port
    url = f"http://127.0.0.1:{port}/vxp"
    with backend(args.backend, work / "data") as env:
        env["LIENTHONG_SETTINGS"] = str(
            write_settings(work, anchors, args.intake_batch, args.intake_lanes)
        )
        env["LIENTHONG_TRUST_NETWORK"] = "1"  # the loopback CRL/OCSP server above
        if args.sqlite_synchronous:  # embedded: database.sqlite_synchronous (default full)
            env["LIENTHONG_SQLITE_SYNCHRONOUS"] = args.sqlite_synchronous
        register_systems(env)
        procs: list[subprocess.Popen[str]] = []
        stats_files: list[Path] = []
        api = ["run" if args.backend == "embedded" else "serve"] * args.api_workers
        roles = api if args.backend == "embedded" else [*api, "worker"]
        for i, role in enumerate(roles):
            stats_files.append(work / f"stats-{role}-{i}.json")
            reuse = role != "worker" and args.api_workers > 1
            procs.append(start(role, env, port, stats_files[-1], reuse_port=reuse))
        try:
            wait_http(f"http://127.0.0.1:{port}")
            load: Load | RawLoad
            threads: list[threading.Thread] = []
            if args.loadgen == "raw":
                load = raw_load(args, port, feed)
                load.start()
            else:
                load = Load(url, feed, args.kind, args.pushers, args.rate)
                threads = [
                    threading.Thread(target=load.pusher, args=(i,), daemon=True)
                    for i in range(args.pushers)
                ]
                if not args.no_pull:
                    threads += [
                        threading.Thread(target=load.puller, args=(k, args.pullers), daemon=True)
                        for k in range(args.pullers)
                    ]
                for t in threads:
                    t.start()
            time.sleep(args.warmup)
            for p in procs:
                p.send_signal(signal.SIGUSR1)
            hub_pids = [p.pid for p in procs]
            groups = {
                "hub": hub_pids,
                "postgres": pids_named("postgres"),
                "rabbitmq": broker_pids(),
                "load generator": [os.getpid()],
            }
            cpu0 = {k: cpu_of(v) for k, v in groups.items()}
            pg0 = postgres_cpu(PG_DB)
            busy0, total0 = machine_busy()
            since = dt.datetime.now(dt.UTC)
            load.measuring = True
            t0 = time.perf_counter()
            time.sleep(args.seconds)
            load.measuring = False
            window = time.perf_counter() - t0
            until = dt.datetime.now(dt.UTC)
            busy1, total1 = machine_busy()
            cpu1 = {k: cpu_of(v) for k, v in groups.items()}
            cpu1["postgres"] = cpu0["postgres"] + postgres_window(pg0, postgres_cpu(PG_DB))
            for p in procs:
                p.send_signal(signal.SIGUSR2)
            load.stop.set()
            for t in threads:
                t.join(timeout=30)
            if isinstance(load, RawLoad):
                load.join(timeout=30)
            time.sleep(1.0)  # let the last dispatches land before reading latencies
            lat, routed = latency_from_db(env, since, until)
            for f in stats_files:  # written by the servers on SIGUSR2
                for _ in range(100):
                    if f.exists():
                        break
                    time.sleep(0.05)
            stats = [json.loads(f.read_text()) for f in stats_files]
            verdicts = verdicts_from_db(env, since, until)
        finally:
            revocation.stop()
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)  # hundreds of MB of blobs after an edoc run
    n = load.pushed
    return {
        "backend": args.backend,
        "kind": args.kind,
        "pushers": args.pushers,
        "api_workers": args.api_workers,
        "rate_target": args.rate,
        "pull": not args.no_pull,
        "loadgen": args.loadgen,
        "intake_batch": args.intake_batch,
        "intake_lanes": args.intake_lanes,
        "window_s": window,
        "pushed": n,
        "rate": n / window,
        "routed_rate": routed / window,
        "acked": load.acked,
        "pullers": 0 if args.no_pull else args.pullers,
        "errors": len(load.errors),
        "error_sample": load.errors[:3],
        "push_rtt_ms": [1000 * pct(load.push_lat, q) for q in (0.5, 0.95, 0.99)],
        "available_ms": [1000 * pct(lat, q) for q in (0.5, 0.95, 0.99)],
        "available_n": len(lat),
        "machine_cpu_s": busy1 - busy0,
        "machine_cores": (total1 - total0) / window,
        "cpu_s": {k: cpu1[k] - cpu0[k] for k in groups},
        "hub_stats": stats,
        "package_bytes": len(feed.next(0)),
        "verdicts": verdicts,
    }


def _pull_line(r: dict[str, Any]) -> list[str]:
    """Whether the recipient kept up: the CPU per package covers a whole pull+ack only then."""
    if not r["pull"]:
        return []
    share = r["acked"] / max(1, r["pushed"])
    verdict = (
        "kept up: the CPU per package below covers push, route, pull and ack"
        if share >= 0.95
        else "did NOT keep up: the CPU per package below covers only this share of the pulls"
    )
    return [
        f"- pulled+acked: {r['acked'] / r['window_s']:,.0f}/s by {r.get('pullers', 2)} pullers, "
        f"**{100 * share:.0f} % of the pushed** — {verdict}"
    ]


def report(r: dict[str, Any]) -> str:
    n = max(1, r["pushed"])
    lines = [
        f"### {r['backend']} — {r['kind']} ({r['package_bytes']:,} bytes), "
        f"{r['pushers']} pushers, {r.get('api_workers', 1)} API process(es), "
        f"target {r['rate_target'] or 'max'}/s, "
        f"pull+ack {'on' if r['pull'] else 'off'}, load generator {r.get('loadgen', 'threads')}",
        "",
        f"- sustained: **{r['rate']:,.0f} packages/s** ({r['pushed']:,} in {r['window_s']:.1f} s;"
        f" {r['acked']:,} pulled+acked; {r['errors']} errors {r['error_sample'] or ''});"
        f" routed into inboxes (queued→available) in the same window: {r['routed_rate']:,.0f}/s",
        *_pull_line(r),
        "- push→available (DB: created_at → queued→available event; 0 for a copy made"
        " available by the push's own transaction), p50/p95/p99: "
        + " / ".join(f"{x:,.1f}" for x in r["available_ms"])
        + f" ms (n={r['available_n']:,})",
        f"- verdicts stored: {r['verdicts']}",
        "- push round trip (client, whole sendEdoc call), p50/p95/p99: "
        + " / ".join(f"{x:,.1f}" for x in r["push_rtt_ms"])
        + " ms",
        f"- machine CPU: {r['machine_cpu_s'] / r['window_s']:.2f} of "
        f"{r['machine_cores']:.0f} cores busy; **{1e6 * r['machine_cpu_s'] / n:,.0f} µs CPU per "
        "package** (all processes); by process: "
        + ", ".join(f"{k} {1e6 * v / n:,.0f} µs" for k, v in r["cpu_s"].items()),
        "",
        "| stage (same run, hub processes) | calls | wall µs/call | CPU µs/call "
        "| CPU µs per package |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in r["hub_stats"]:
        for name, (calls, wall, cpu) in sorted(s["stats"].items()):
            if not calls:
                continue
            lines.append(
                f"| {name} | {calls:,.0f} | {1e6 * wall / calls:,.0f} | "
                f"{1e6 * cpu / calls:,.0f} | {1e6 * cpu / n:,.0f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=("pg", "embedded"), default="pg")
    ap.add_argument("--kind", choices=("status", "edoc"), default="status")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=4)
    ap.add_argument("--pushers", type=int, default=16)
    ap.add_argument("--rate", type=float, default=None, help="open-loop target (packages/s)")
    ap.add_argument("--no-pull", action="store_true", help="push only (no recipient threads)")
    ap.add_argument(
        "--pullers",
        type=int,
        default=8,
        help="recipient downloaders (downloadEdoc + updateStatus done) fed by one listing loop "
        "(enough that the pulls keep up with the pushes: steady state)",
    )
    ap.add_argument("--port", type=int, default=8089)
    ap.add_argument(
        "--api-workers",
        type=int,
        default=1,
        help="API processes sharing the port (lienthong serve --workers N)",
    )
    ap.add_argument(
        "--sqlite-synchronous",
        choices=("full", "normal"),
        default=None,
        help="embedded: SQLite durability (database.sqlite_synchronous; default: the setting's)",
    )
    ap.add_argument(
        "--loadgen",
        choices=("raw", "threads"),
        default="raw",
        help="raw: asyncio over prepared requests (bench/loadgen.py); threads: httpx clients",
    )
    ap.add_argument(
        "--prepare",
        type=int,
        default=40_000,
        help="raw, maximum rate: requests signed before the run (later ones are signed live)",
    )
    ap.add_argument(
        "--intake-batch",
        type=int,
        default=None,
        help="limits.intake_batch (group commit; 1 = every push alone); default: the setting's",
    )
    ap.add_argument("--intake-lanes", type=int, default=None, help="limits.intake_lanes")
    ap.add_argument("--json", metavar="FILE", help="append the raw result as a JSON line")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (store, blobs, stats)")
    args = ap.parse_args()
    r = run(args)
    print(report(r))
    if args.json:
        with open(args.json, "a", encoding="utf-8") as f:
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
