"""The hub as ``lienthong run | serve | worker`` would start it, with cheap stage timers.

Used by ``bench/bench_hub.py`` (one subprocess per role). The process is wired exactly like the
CLI does (:func:`hub.entrypoints.bootstrap.build_hub` from the ``LIENTHONG_*`` environment, then
:func:`hub.entrypoints.bootstrap.serve` or the workers) and additionally times each stage of the
hot path in the same run:

* wall time and CPU time (``time.thread_time``: the CPU of the calling thread only, so time
  spent waiting for the GIL, the database server or the broker is not counted as CPU) of
  ``parse_package``, ``profile.validate_parsed``, the signature verifier, the blob write, every
  SQL statement and every commit (tagged by the operation that ran it: push, pull, dispatch,
  relay), the whole push / pull / dispatch service calls;
* wall time of the broker's ``publish_many`` (awaiting the confirms) and of each HTTP request
  (an ASGI middleware around the whole app: framework, HMAC check, service, reply);
* the process's own CPU (``resource.getrusage``).

``SIGUSR1`` resets the figures (end of warm-up), ``SIGUSR2`` writes them as JSON to
``BENCH_STATS_OUT``; ``SIGTERM`` stops the process cleanly. The timers cost ≈ 1 µs each.

Usage: ``python bench/hub_server.py run|serve|worker [--port N]`` (settings from the
environment, as ``lienthong`` reads them).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

_lock = threading.Lock()
_tag = threading.local()
STATS: dict[str, list[float]] = {}
_RESET_AT = [time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)]


def add(name: str, wall: float, cpu: float, n: int = 1) -> None:
    with _lock:
        row = STATS.setdefault(name, [0, 0.0, 0.0])
        row[0] += n
        row[1] += wall
        row[2] += cpu


def timed(name: str, fn: Callable[..., Any], *, tag: str | None = None) -> Callable[..., Any]:
    """``fn`` with its wall and CPU time added to ``name``; ``tag`` labels the SQL it runs."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        prev = getattr(_tag, "op", None)
        if tag is not None:
            _tag.op = tag
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            add(name, time.perf_counter() - w0, time.thread_time() - c0)
            _tag.op = prev

    return wrapper


def time_gc() -> None:
    """Time the cyclic garbage collector's runs, per generation ("gc: generation N")."""
    started: list[tuple[float, float]] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append((time.perf_counter(), time.thread_time()))
        elif started:
            w0, c0 = started.pop()
            add(
                f"gc: generation {info['generation']}",
                time.perf_counter() - w0,
                time.thread_time() - c0,
            )

    gc.callbacks.append(callback)


def instrument() -> None:
    """Patch the stage functions (module attributes looked up at call time)."""
    time_gc()
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    import hub.edxml.profile as profile
    import hub.services.intake as intake
    from adapters.broker.embedded import EmbeddedBroker
    from adapters.store.blobs import FileBlobStore
    from adapters.store.uow import SqlUnitOfWork
    from adapters.store.write_gate import WriteGate
    from hub.services.audit_seal import AuditSealer
    from hub.services.dispatch import DispatchHandler
    from hub.services.evidence_seal import EvidenceSealer
    from hub.services.outbox import OutboxRelay
    from hub.services.pull import Pull

    intake.parse_package = timed("push: parse", intake.parse_package)  # type: ignore[assignment]
    profile.validate_parsed = timed("push: profile check", profile.validate_parsed)  # type: ignore[assignment]
    FileBlobStore.put = timed("push: blob write", FileBlobStore.put)  # type: ignore[method-assign]
    intake.Intake.push = timed("push: service total", intake.Intake.push, tag="push")  # type: ignore[method-assign]
    for name in ("list_received", "count_received", "fetch", "fetch_stream", "update_status"):
        setattr(Pull, name, timed(f"pull: {name}", getattr(Pull, name), tag="pull"))
    DispatchHandler.dispatch = timed(  # type: ignore[method-assign]
        "dispatch: service total", DispatchHandler.dispatch, tag="dispatch"
    )
    OutboxRelay._pending = timed("relay: read outbox", OutboxRelay._pending, tag="relay")  # type: ignore[method-assign]
    OutboxRelay._forget = timed("relay: delete outbox", OutboxRelay._forget, tag="relay")  # type: ignore[method-assign]
    AuditSealer.seal_once = timed("seal: audit", AuditSealer.seal_once, tag="seal")  # type: ignore[method-assign]
    EvidenceSealer.seal_once = timed("seal: evidence", EvidenceSealer.seal_once, tag="seal")  # type: ignore[method-assign]

    EmbeddedBroker._claim = timed("broker: claim", EmbeddedBroker._claim, tag="broker")  # type: ignore[method-assign]
    EmbeddedBroker._settle = timed("broker: settle", EmbeddedBroker._settle, tag="broker")  # type: ignore[method-assign]
    orig_acquire = WriteGate.acquire

    def acquire(self: Any, timeout_s: float, **kwargs: Any) -> bool:
        w0 = time.perf_counter()
        try:
            return orig_acquire(self, timeout_s, **kwargs)
        finally:
            op = getattr(_tag, "op", None) or "other"
            add(f"sqlite write gate wait [{op}]", time.perf_counter() - w0, 0.0)

    WriteGate.acquire = acquire  # type: ignore[method-assign]

    orig_commit = SqlUnitOfWork.commit

    def commit(self: Any) -> None:
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            orig_commit(self)
        finally:
            op = getattr(_tag, "op", None) or "other"
            add(f"db commit [{op}]", time.perf_counter() - w0, time.thread_time() - c0)

    SqlUnitOfWork.commit = commit  # type: ignore[method-assign]

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, stmt: Any, params: Any, context: Any, many: bool) -> None:
        conn.info["bench_t"] = (time.perf_counter(), time.thread_time())

    @event.listens_for(Engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, stmt: Any, params: Any, context: Any, many: bool) -> None:
        w0, c0 = conn.info.pop("bench_t", (time.perf_counter(), time.thread_time()))
        op = getattr(_tag, "op", None) or "other"
        add(f"db statements [{op}]", time.perf_counter() - w0, time.thread_time() - c0)


def instrument_hub(hub: Any) -> None:
    """Timers on the parts built by :func:`build_hub`: verifier, broker, HTTP app."""
    broker = hub.broker
    many = getattr(broker, "publish_many", None)
    if many is not None:

        async def publish_many(queue: str, messages: Any) -> None:
            w0 = time.perf_counter()
            try:
                await many(queue, messages)
            finally:
                add("relay: publish_many (wall, awaiting confirms)", time.perf_counter() - w0, 0.0)
                add("relay: messages published", 0.0, 0.0, n=len(messages))

        broker.publish_many = publish_many

    orig_app = type(hub).app

    def app(self: Any) -> Any:
        inner = orig_app(self)

        async def timing(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return
            op = scope["path"].rstrip("/").rsplit("/", 1)[-1]
            w0 = time.perf_counter()
            try:
                await inner(scope, receive, send)
            finally:
                add(f"http: {op} (wall)", time.perf_counter() - w0, 0.0)

        return timing

    type(hub).app = app

    merge = os.environ.get("BENCH_MERGE_IDS")
    if merge is not None:  # A/B of the relay's dispatch batching (1: a message per package)
        hub.relay._merge_ids = int(merge)

    ttl = os.environ.get("BENCH_CREDENTIALS_TTL")
    if ttl is not None:  # A/B of the façade's credential cache (0: a store read per request)
        import dataclasses

        from adapters.http import gate

        orig_init = gate.Gate.__init__

        def init(self: Any, service: Any, settings: Any, *args: Any, **kwargs: Any) -> None:
            settings = dataclasses.replace(settings, credentials_ttl_s=float(ttl))
            orig_init(self, service, settings, *args, **kwargs)

        gate.Gate.__init__ = init  # type: ignore[method-assign]


def dump(path: str) -> None:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    with _lock:
        rows = {k: list(v) for k, v in STATS.items()}
    r0 = _RESET_AT[1]
    out = {
        "window_s": time.monotonic() - _RESET_AT[0],
        "process_cpu_s": (ru.ru_utime - r0.ru_utime) + (ru.ru_stime - r0.ru_stime),
        "stats": rows,
    }
    tmp = Path(path + ".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    tmp.rename(path)  # the reader waits for the file: never let it see half of it


def reset() -> None:
    with _lock:
        STATS.clear()
    _RESET_AT[0] = time.monotonic()
    _RESET_AT[1] = resource.getrusage(resource.RUSAGE_SELF)


async def main(role: str, host: str, port: int, reuse_port: bool = False) -> None:
    from hub.entrypoints.bootstrap import build_hub, build_verifier, freeze_startup_heap, serve
    from hub.ports import NullVerifier
    from hub.settings import load_settings

    instrument()
    settings = load_settings()
    inner = build_verifier(settings) if settings.verify_signatures else NullVerifier()

    class TimedVerifier:
        verify = staticmethod(timed("push: signature verdicts", inner.verify))

    hub = build_hub(settings, migrate=False, verifier=TimedVerifier())  # type: ignore[arg-type]
    instrument_hub(hub)
    freeze_startup_heap()  # as `lienthong serve` / `worker` do
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    out = os.environ.get("BENCH_STATS_OUT", f"/tmp/hub-stats-{role}.json")
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, reset)
    loop.add_signal_handler(signal.SIGUSR2, lambda: dump(out))
    if role == "worker":
        await hub.start_workers()
        print("ready", flush=True)
        try:
            await stop.wait()
        finally:
            await hub.stop()
            hub.close()
        return
    print("ready", flush=True)
    await serve(hub, host, port, workers=role == "run", stop=stop, reuse_port=reuse_port)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("role", choices=("run", "serve", "worker"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8089)
    ap.add_argument(
        "--reuse-port", action="store_true", help="share the port (SO_REUSEPORT) with siblings"
    )
    a = ap.parse_args()
    from adapters.http.server import run  # the event loop `lienthong serve` runs on

    run(main(a.role, a.host, a.port, a.reuse_port))
