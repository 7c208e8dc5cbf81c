"""The composition root: the one place that turns settings into a running hub.

Nothing is built at import time. :func:`build_hub` wires the adapters into the services and
returns a :class:`Hub` holding every long-lived object (engine, blob store, broker, verifier,
services, outbox relay, worker handlers); the entry points (``lienthong run`` / ``serve`` /
``worker`` / ``demo``, the tests) start the parts they need:

* **API** — :meth:`Hub.app` (FastAPI: VXP façade, REST, health, metrics). The outbox relay runs
  in the API process too, so a pushed package is published the moment its transaction commits.
* **workers** — :meth:`Hub.start_workers`: broker consumers for dispatch and forwarding, the
  relay's periodic sweep (nothing stored is left unpublished, even after a crash), and the
  inbound loop over the peers (:mod:`hub.entrypoints.peering`: inboxes polled, hosted agencies
  announced, forwarded copies tracked).

``lienthong run`` starts both in one process on the embedded defaults (SQLite + the broker in
the database); production runs ``serve`` and ``worker`` separately on PostgreSQL + RabbitMQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.agency.registry import Registry
from hub.audit_chain import anchor_key
from hub.entrypoints.peering import InboundLoop, build_peers, links_of
from hub.entrypoints.scheduled import ScheduledJob
from hub.errors import StoreUnavailable
from hub.messaging import DISPATCH_QUEUE, FORWARD_QUEUE, Broker
from hub.peer_guard import guard
from hub.ports import (
    AuditRow,
    BlobStore,
    Clock,
    NullVerifier,
    Peer,
    PeerHealthStore,
    PeerLink,
    SignatureVerifier,
    SystemClock,
    UnitOfWork,
    UnitOfWorkFactory,
)
from hub.routing import Router
from hub.scheduling import Leader
from hub.secrets import SecretBox, resolve_key
from hub.services.accounts import AccountPolicy, Accounts
from hub.services.announce import HostingAnnouncer
from hub.services.audit_seal import ANCHORS_FILE, AuditSealer
from hub.services.base import Deps, HubConfig
from hub.services.base import router as base_router
from hub.services.dispatch import DispatchHandler, ForwardHandler
from hub.services.evidence_seal import EvidenceSealer
from hub.services.hub import HubServices
from hub.services.inbound import InboundPoller, RemoteTracker
from hub.services.monitor import Monitor
from hub.services.outbox import OutboxRelay
from hub.services.registry import LiveRegistry
from hub.services.registry_sync import RegistrySync, SyncPolicy, directories_of
from hub.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.engine import Engine

    from adapters.http.console.evidence import EvidenceExport

log = logging.getLogger("lienthong")


def database_url(settings: Settings) -> str:
    """The database URL: the configured one, else the SQLite file in the data dir."""
    return settings.database_url


def load_registry(settings: Settings) -> Registry:
    """The agency registry: the configured source file, else the shipped sample."""
    from hub.agency.loading import load_registry as load_file
    from hub.agency.loading import load_sample_registry

    if settings.registry_source is not None:
        return load_file(settings.registry_source)
    return load_sample_registry()


def build_verifier(settings: Settings) -> SignatureVerifier:
    """Envelope XML-DSig and PDF signature checks, with the configured trust anchors.

    Without trust anchors every signature that verifies is reported ``untrusted`` (never
    ``valid``): the policy decides whether that is refused or flagged.
    """
    from signing.envelope_port import HubSignatureVerifier, pdf_check_from
    from signing.pdf_verify import PdfVerifier
    from signing.trust import TrustEvaluator, TrustPolicy, TrustStore
    from signing.xmldsig import EnvelopePolicy, PolicySet, SignatureVerifier

    anchors = b"".join(p.read_bytes() for p in settings.trust_anchors)
    store = TrustStore.from_pem(anchors) if anchors else TrustStore(anchors=())
    trust_policy = TrustPolicy(
        allow_network=settings.trust_network, crl_files=tuple(settings.crl_files)
    )
    policies = PolicySet(default=EnvelopePolicy(trust=trust_policy))
    envelope = SignatureVerifier(store, policies)
    pdf = PdfVerifier(TrustEvaluator(store, trust_policy))
    return HubSignatureVerifier(envelope, pdf_check=pdf_check_from(pdf))


def build_broker(settings: Settings, engine: Engine) -> Broker:
    """The broker the settings name: ``embedded`` (queues in the database) or ``amqp://…``."""
    retry = settings.retry
    if settings.broker_url == "embedded":
        from adapters.broker.embedded import EmbeddedBroker

        return EmbeddedBroker(
            engine.execution_options(sqlite_write_urgent=True),
            retry_policy=retry,
            poll_s=0.5,
            lease_s=settings.broker_lease_s,
        )
    from adapters.broker.rabbitmq import RabbitBroker

    return RabbitBroker(
        settings.broker_url,
        prefix=settings.broker_prefix,
        retry_policy=retry,
        connection_name=settings.broker_prefix,
    )


@dataclass
class Hub:
    """Every long-lived object of one hub process (see the module docstring)."""

    settings: Settings
    engine: Engine
    uow: UnitOfWorkFactory
    blobs: BlobStore
    broker: Broker
    relay: OutboxRelay
    services: HubServices
    dispatch: DispatchHandler
    forward: ForwardHandler
    clock: Clock
    sealer: AuditSealer | None = None
    """Links audit rows into the hash chain; :meth:`AuditSealer.verify` checks it."""
    evidence: EvidenceSealer | None = None
    """Links delivery events into the evidence chain and timestamps each round's head."""
    scheduled: list[ScheduledJob] = field(default_factory=list)
    """Jobs the worker processes run once across the nodes (audit sealing…)."""
    peers: Mapping[str, Peer] = field(default_factory=dict)
    inbound: InboundLoop | None = None
    peer_health: PeerHealthStore | None = None
    """Every peer's last known health (circuit breakers, registry sync)."""
    registry_sync: RegistrySync | None = None
    _stop: asyncio.Event | None = field(default=None, repr=False)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list, repr=False)

    def app(self) -> FastAPI:
        """The HTTP app (VXP façade, REST API, health, metrics, dashboard)."""
        from prometheus_client import CollectorRegistry, GCCollector, ProcessCollector

        from adapters.http.app import create_app
        from adapters.http.console.metrics import FrozenHeapCollector
        from adapters.http.gate import ApiSettings
        from hub.vxp.verify import VerifyPolicy

        api = ApiSettings(
            max_package_bytes=self.settings.max_package_bytes,
            verify=VerifyPolicy(
                default_max_age_s=self.settings.max_age_s,
                future_skew_s=self.settings.clock_skew_s,
            ),
            refuse_replays=self.settings.refuse_replays,
        )
        from adapters.http.console import mount_dashboard
        from hub.entrypoints.console_facts import console_facts
        from hub.entrypoints.seal import seal_service_from_settings

        registry = CollectorRegistry()
        # The process beside the hub: CPU, memory, file descriptors, the collector's runs.
        ProcessCollector(registry=registry)
        GCCollector(registry=registry)
        registry.register(FrozenHeapCollector())
        sealer = seal_service_from_settings(self.settings, self.uow)
        app = create_app(
            self.services,
            api,
            audit=self.record_security_event,
            readiness=self.ready,
            registry=registry,
            peer_health=self.peer_health.all if self.peer_health is not None else None,
            sealer=sealer,
            evidence_health=self.evidence.health if self.evidence is not None else None,
        )
        token = self.settings.admin_token
        monitor = self.monitor()
        mount_dashboard(
            app,
            monitor,
            self.broker,
            admin_token=token.reveal() if token is not None else None,
            registry=registry,
            peer_health=self.peer_health.all if self.peer_health is not None else None,
            facts=console_facts(self.settings, self.engine),
            blobs=self.blobs,
            evidence=self._evidence_export(),
            sealer=sealer,
            accounts=self.accounts(monitor),
            loopback_without_login=self.settings.loopback_mode,
        )
        return app

    def _evidence_export(self) -> EvidenceExport | None:
        """The console's evidence pages: the chain, the package bytes and ``evidence.key``."""
        from adapters.http.console.evidence import EvidenceExport

        if self.evidence is None:
            return None
        return EvidenceExport(
            self.evidence.store,
            self.blobs,
            self.settings.evidence.key,
            self.settings.organ_id,
            self.clock.now,
        )

    def accounts(self, monitor: Monitor | None = None) -> Accounts:
        """The console's named accounts (``lienthong users``, the login page)."""
        from adapters.passwords import Argon2Hasher
        from adapters.store.operators import SqlOperatorStore

        c = self.settings.console
        policy = AccountPolicy(
            idle_s=c.session_idle_s,
            absolute_s=c.session_max_s,
            max_failures=c.login_max_failures,
            lock_s=c.login_lock_s,
        )
        record = (monitor or self.monitor()).record
        store = SqlOperatorStore(self.engine)
        registry = self.services.deps.registry
        return Accounts(store, Argon2Hasher(), self.clock, record, policy, registry=registry)

    def monitor(self) -> Monitor:
        """The IT read model and actions (dashboard, ``lienthong deliveries`` / ``audit``)."""
        deps, config = self.services.deps, self.services.config

        def routing() -> Callable[[UnitOfWork], Router]:
            registry = deps.registry()  # fetched before the redrive's write transaction
            return lambda uow: base_router(deps, config, uow, registry)

        return Monitor(self.uow, self.clock, wake_outbox=self.relay.wake, routing=routing)

    def ready(self) -> bool:
        """Readiness: the database answers (the broker is checked by the workers)."""
        from sqlalchemy import text

        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    def record_security_event(self, event: Any) -> None:
        """Keep every refused request in the audit trail (the JSON log line is the gate's)."""
        try:
            with self.uow() as uow:
                uow.audit.append(
                    AuditRow(
                        at=self.clock.now(),
                        actor=event.system_id or "-",
                        action=f"{event.api}.{event.operation}",
                        subject=None,
                        outcome=event.code,
                        details={
                            "reason": event.reason,
                            "http_status": event.http_status,
                            "remote": event.remote,
                            "hash_header": event.hash_header,
                        },
                    )
                )
                uow.commit()
        except StoreUnavailable as exc:  # e.g. during a database fail-over: one line, no trace
            log.warning("security event %s not in the audit trail: %s", event.code, exc.code)
        except Exception:  # the refusal itself already happened; never turn it into a 500
            log.exception("could not record a security event in the audit trail")

    async def start_relay(self) -> None:
        """Start the outbox relay in this loop (API processes and workers both run one)."""
        await self.broker.start()
        self._stop = self._stop or asyncio.Event()
        self._tasks.append(asyncio.create_task(self.relay.run(self._stop), name="outbox-relay"))

    async def start_workers(self, *, relay: bool = True) -> None:
        """Start the broker consumers (dispatch, forward), the registry sync's schedule and,
        unless told not to, the relay."""
        await self.broker.start()
        await self.broker.consume(DISPATCH_QUEUE, self.dispatch)
        await self.broker.consume(FORWARD_QUEUE, self.forward)
        if relay:
            await self.start_relay()
        self._stop = self._stop or asyncio.Event()
        for job in self.scheduled:
            self._tasks.append(asyncio.create_task(job.loop(self._stop), name=job.name))

    async def stop(self) -> None:
        """Stop the relay and the consumers; release the broker."""
        if self._stop is not None:
            self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)
        self._tasks.clear()
        await self.broker.close()

    def close(self) -> None:
        """Release the database connections and the peers' (after :meth:`stop`)."""
        for peer in self.peers.values():
            peer.close()
        self.engine.dispose()

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_hub(
    settings: Settings,
    *,
    migrate: bool = True,
    verifier: SignatureVerifier | None = None,
    links: Mapping[str, PeerLink] | None = None,
    clock: Clock | None = None,
    registry: Callable[[], Registry] | None = None,
    peers: Mapping[str, Peer] | None = None,
) -> Hub:
    """Wire a hub from ``settings``. ``migrate`` brings the database schema to head first.

    ``peers`` replaces the peers the settings describe; ``links`` only their push side (then
    nothing is polled).
    """
    from adapters.store.audit_chain import SqlAuditChain
    from adapters.store.blobs import FileBlobStore
    from adapters.store.engine import EngineOptions, create_engine
    from adapters.store.leases import SqlLeases
    from adapters.store.migrate import upgrade
    from adapters.store.peer_health import SqlPeerHealthStore
    from adapters.store.uow import SqlStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        database_url(settings), EngineOptions(sqlite_synchronous=settings.sqlite_synchronous)
    )
    if migrate:
        upgrade(engine)
    store = SqlStore(engine)
    uow = store.unit_of_work
    blobs: BlobStore
    if settings.blob_store == "database":
        from adapters.store.db_blobs import DatabaseBlobStore

        blobs = DatabaseBlobStore(engine)
    else:
        blobs = FileBlobStore(Path(settings.data_dir) / "blobs")
    if settings.blob_inline_max_bytes > 0:
        from adapters.store.row_blobs import RowBlobStore

        blobs = RowBlobStore(engine, blobs, settings.blob_inline_max_bytes)
    clock = clock or SystemClock()
    broker = build_broker(settings, engine)
    # Read-only units of work: on SQLite in a DEFERRED transaction, so they never wait for the
    # write lock (the registry may refresh inside a writing unit of work; the relay's reads);
    # on PostgreSQL outside a transaction, as are the one-step units (fetch, acknowledgement).
    reader = store.read_unit
    # The writers that move accepted packages on (relay, broker, dispatch) go first in SQLite's
    # line of writers (adapters.store.write_gate); no effect on PostgreSQL.
    mover = SqlStore(engine.execution_options(sqlite_write_urgent=True)).unit_of_work
    relay = OutboxRelay(mover, broker, sweep_interval_s=2.0, reader=reader)
    if registry is None:
        registry = LiveRegistry(load_registry(settings), reader)

    if verifier is None:
        verifier = build_verifier(settings) if settings.verify_signatures else NullVerifier()
    deps = Deps(
        uow=uow,
        blobs=blobs,
        registry=registry,
        clock=clock,
        verifier=verifier,
        wake_outbox=relay.wake,
        reader=reader,
        stepper=store.step_unit,
    )
    config = HubConfig.from_settings(settings)
    key = resolve_key(
        settings.secret_key.reveal() if settings.secret_key else None,
        settings.data_dir,
        production=settings.production,
    )
    services = HubServices(deps, config, SecretBox(key))
    leases = SqlLeases(engine)
    sealer = AuditSealer(
        SqlAuditChain(engine), clock, anchor_key(key), settings.data_dir / ANCHORS_FILE
    )
    evidence = build_evidence_sealer(settings, engine, clock)
    scheduled = [
        ScheduledJob("audit-sealer", 2.0, Leader(leases, clock, "audit-sealer"), sealer.seal_once),
        ScheduledJob(
            "evidence-sealer",
            settings.evidence.interval_s,
            Leader(leases, clock, "evidence-sealer"),
            evidence.seal_once,
        ),
    ]
    dispatch = DispatchHandler(mover, clock, wake_outbox=relay.wake)
    peer_health = SqlPeerHealthStore(engine)
    if peers is None:
        peers = (
            {name: Peer(name, "link", link) for name, link in links.items()}  # push side only
            if links is not None
            else build_peers(settings)
        )
    # Every peer behind its circuit breaker: the forwarder, the poller and the sync see the
    # guarded ports.
    peers = {
        name: guard(p, settings.breaker, clock=clock, health=peer_health)
        for name, p in peers.items()
    }
    forward = ForwardHandler(
        uow,
        blobs,
        links_of(peers),
        clock,
        organ_id=settings.organ_id,
        retry=settings.retry,
        broker=broker,
    )
    registry_sync = RegistrySync(
        uow,
        clock,
        policy=SyncPolicy(settings.registry_sync_interval_s, settings.registry_sync_min_ratio),
        health=peer_health,
        on_change=registry.invalidate if isinstance(registry, LiveRegistry) else None,
    )
    inbound = InboundLoop(
        HostingAnnouncer(deps, peers.values(), settings.scope),
        InboundPoller(deps, services.intake, peers.values()),
        RemoteTracker(deps, peers.values(), every_s=settings.inbound_track_s),
        interval_s=settings.inbound_poll_s,
    )
    if peers:
        # Once across the nodes; the lease outlives a slow round (rounds are idempotent).
        lease_s = max(60.0, 3 * settings.inbound_poll_s)
        scheduled.append(
            ScheduledJob(
                "inbound",
                settings.inbound_poll_s,
                Leader(leases, clock, "inbound", ttl_s=lease_s),
                inbound.round,
            )
        )
    directories = directories_of(peers)
    if settings.registry_sync_interval_s > 0 and directories:
        scheduled.append(
            ScheduledJob(
                "registry-sync",
                settings.registry_sync_interval_s,
                Leader(leases, clock, "registry-sync", ttl_s=600.0),
                lambda: registry_sync.sync_all(directories),
            )
        )
    return Hub(
        settings=settings,
        engine=engine,
        uow=uow,
        blobs=blobs,
        broker=broker,
        relay=relay,
        services=services,
        dispatch=dispatch,
        forward=forward,
        clock=clock,
        sealer=sealer,
        evidence=evidence,
        scheduled=scheduled,
        peers=dict(peers),
        inbound=inbound,
        peer_health=peer_health,
        registry_sync=registry_sync,
    )


def build_evidence_sealer(settings: Settings, engine: Engine, clock: Clock) -> EvidenceSealer:
    """The evidence sealer on ``engine``, with the configured TSA (none: links only)."""
    from adapters.store.evidence import SqlEvidenceChain
    from hub.evidence import EvidencePolicy

    ev = settings.evidence
    timestamper = None
    if ev.tsa_url:
        from signing.evidence import HttpTimestamper

        timestamper = HttpTimestamper(ev.tsa_url)
    return EvidenceSealer(
        SqlEvidenceChain(engine),
        clock,
        timestamper,
        EvidencePolicy(max_outage_s=ev.tsa_max_outage_s, max_lag_s=ev.max_lag_s),
        tsa_name=ev.tsa_url or "-",
        interval_s=ev.interval_s,
    )


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (Linux): several API
    processes bind the same port and the kernel spreads new connections across their
    listening sockets. Not listening yet (a bound, non-listening socket gets no connections,
    so a supervisor may hold one to keep the port reserved)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


async def serve(
    hub: Hub,
    host: str,
    port: int,
    *,
    workers: bool,
    stop: asyncio.Event | None = None,
    reuse_port: bool = False,
) -> None:
    """Serve the HTTP app with uvicorn in this loop; with ``workers``, run them alongside.

    ``reuse_port``: listen on a ``SO_REUSEPORT`` socket, sharing ``port`` with the other API
    processes of ``lienthong serve --workers N`` (:mod:`hub.entrypoints.processes`).
    """
    import uvicorn

    from adapters.http.server import config

    if workers:
        await hub.start_workers()
    else:
        await hub.start_relay()
    server = uvicorn.Server(config(hub.app(), host, port))
    stopper: asyncio.Task[Any] | None = None
    if stop is not None:

        async def _watch() -> None:
            await stop.wait()
            server.should_exit = True

        stopper = asyncio.create_task(_watch())
    sockets = None
    if reuse_port:
        sock = reuse_port_socket(host, port)
        sock.listen(2048)  # uvicorn's default backlog
        sockets = [sock]
    try:
        await server.serve(sockets=sockets)
    finally:
        if stopper is not None:
            stopper.cancel()
        await hub.stop()
        hub.close()


def freeze_startup_heap() -> None:
    """Keep what start-up built out of the cyclic garbage collector's walks (``gc.freeze``).

    A hub process builds most of its heap once: modules, the app and its routes, SQLAlchemy's
    tables and compiled statements, the agency registry. Every full collection walked all of it
    again, holding the GIL for ≈ 80 ms each time, a stall every request in flight waited out
    (``bench/RESULTS-hub.md``). Frozen objects are never collected, so only a process's
    entry point calls this, once, when the process is built (not :func:`serve`, which a test
    process may call many times).
    """
    gc.collect()
    gc.freeze()


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
