"""``lienthong run | serve | worker | systems | agencies | db | deliveries | audit`` (and
``demo``); ``queues`` is in :mod:`hub.entrypoints.cli_queues`, ``deadletters`` and ``trace`` in
:mod:`hub.entrypoints.cli_ops`, the shared output helpers in :mod:`hub.entrypoints.cli_output`.

Every command that touches the store takes ``--data-dir`` (and ``--settings``), which override
the settings file like the ``LIENTHONG_*`` variables do. Secrets are printed once, when
generated, and never logged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hub.entrypoints.cli_output import Progress, print_json, problem_json
from hub.settings import Settings, load_settings


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--settings", metavar="FILE", help="settings file (default: config/settings.yaml)"
    )
    p.add_argument("--data-dir", metavar="DIR", help="data directory (database, blobs, keys)")


def _settings(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Settings:
    if getattr(args, "role", None):
        # In the environment, so the processes of ``run --workers N`` take the role too.
        os.environ["LIENTHONG_ROLE"] = args.role
    env = dict(os.environ if env is None else env)
    if getattr(args, "data_dir", None):
        env["LIENTHONG_DATA_DIR"] = str(Path(args.data_dir).resolve())
    return load_settings(getattr(args, "settings", None), env)


def _server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--workers",
        dest="processes",
        type=int,
        default=None,
        metavar="N",
        help="API processes sharing the port (default: api.workers, 1); PostgreSQL: up to one "
        "per core; SQLite: keep 1 (one writer)",
    )
    # Set by the supervisor for its children (hub/entrypoints/processes.py).
    p.add_argument(
        "--role",
        choices=("provincial", "national"),
        default=None,
        help="hub.role: national serves every agency (the axis other hubs connect to)",
    )
    p.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--no-migrate", action="store_true", help=argparse.SUPPRESS)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="API + workers in one process (embedded defaults)")
    _common(p)
    _server_options(p)
    p.set_defaults(handler=_run, workers=True, command="run")

    p = sub.add_parser("serve", help="the HTTP API only (production: run workers separately)")
    _common(p)
    _server_options(p)
    p.set_defaults(handler=_run, workers=False, command="serve")

    p = sub.add_parser("worker", help="the delivery workers only")
    _common(p)
    p.add_argument("--role", choices=("provincial", "national"), default=None)
    p.set_defaults(handler=_worker)

    p = sub.add_parser("db", help="database schema")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    q = dsub.add_parser("upgrade", help="migrate the database to the newest schema")
    _common(q)
    q.set_defaults(handler=_db_upgrade)

    p = sub.add_parser("systems", help="connected agency systems")
    ssub = p.add_subparsers(dest="systems_command", metavar="ACTION", required=True)
    q = ssub.add_parser("add", help="register a system and the agencies it hosts")
    _common(q)
    q.add_argument("system_id")
    q.add_argument("--agency", action="append", required=True, metavar="CODE")
    q.add_argument("--secret", help="the shared HMAC secret (generated and printed if omitted)")
    q.add_argument("--name", default=None)
    q.add_argument("--max-age", type=int, default=None, help="timestamp freshness window (s)")
    q.set_defaults(handler=_systems_add)
    q = ssub.add_parser("list", help="list the connected systems")
    _common(q)
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=_systems_list)
    q = ssub.add_parser("rotate", help="give a system a new secret (the old one keeps working)")
    _common(q)
    q.add_argument("system_id")
    q.add_argument("--secret", default=None)
    q.set_defaults(handler=_systems_rotate)
    q = ssub.add_parser(
        "remove", help="stop hosting a system's agencies and disable it (withdrawn at peers)"
    )
    _common(q)
    q.add_argument("system_id")
    q.set_defaults(handler=_systems_remove)
    q = ssub.add_parser("disable", help="refuse every request of a system")
    _common(q)
    q.add_argument("system_id")
    q.set_defaults(handler=_systems_disable)

    p = sub.add_parser("agencies", help="the agency registry")
    asub = p.add_subparsers(dest="agencies_command", metavar="ACTION", required=True)
    q = asub.add_parser("import", help="import agencies (national registry JSON/CSV shapes)")
    _common(q)
    q.add_argument("file")
    q.set_defaults(handler=_agencies_import)

    q = asub.add_parser("list", help="the registry the hub routes with (configured + stored)")
    _common(q)
    q.add_argument("--search", help="only codes or names containing this (case-insensitive)")
    q.add_argument("--limit", type=int, default=None, help="at most this many (default: all)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=_agencies_list)

    q = asub.add_parser("sync", help="fetch the national axis' agency list (getAgenciesList)")
    _common(q)
    q.set_defaults(handler=_agencies_sync)

    p = sub.add_parser("deliveries", help="deliveries in a state (IT view), redrive")
    _common(p)
    p.add_argument(
        "--state", default="undeliverable", help="state to list (default: undeliverable)"
    )
    p.add_argument("--redrive", nargs="+", metavar="ID", help="put dead/undeliverable back")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_deliveries)

    p = sub.add_parser(
        "audit", help="the audit log, newest first; 'audit verify' checks its hash chain"
    )
    _common(p)
    p.add_argument(
        "what",
        nargs="?",
        choices=["list", "verify"],
        default="list",
        help="list (default) or verify: prove the hash chain and name the first broken row",
    )
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--actor", help="only actors starting with this (system:, admin@, cli)")
    p.add_argument("--action", help="only actions starting with this (delivery., system.)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_audit)

    p = sub.add_parser("demo", help="a whole hub on a temporary store: push, pull, statuses")
    p.add_argument("--keep", metavar="DIR", help="keep the demo's data in DIR")
    p.add_argument(
        "--levels",
        action="store_true",
        help="three hubs as processes: a commune (H41) → the national axis → a department (H14)",
    )
    p.set_defaults(handler=_demo)


def _build(args: argparse.Namespace, **kw: Any) -> Any:
    from hub.entrypoints.bootstrap import build_hub

    return build_hub(_settings(args), **kw)


def _run(args: argparse.Namespace) -> int:
    from adapters.http.server import run as run_loop
    from hub.entrypoints.bootstrap import freeze_startup_heap, serve
    from hub.entrypoints.logs import configure_logging

    processes = args.processes
    if processes is None:
        processes = _settings(args).api_workers
    if processes < 1:
        print("lienthong: --workers must be at least 1", file=sys.stderr)
        return 2
    if processes > 1:
        from hub.entrypoints.processes import supervise

        return supervise(
            _settings(args),
            args.command,
            processes,
            args.host,
            args.port,
            settings_file=args.settings,
            data_dir=str(Path(args.data_dir).resolve()) if args.data_dir else None,
        )
    hub = _build(args, migrate=not args.no_migrate)
    configure_logging(hub.settings.data_dir, events=hub.settings.security_events)
    freeze_startup_heap()
    where = f"http://{args.host}:{args.port}/"
    mode = "API + workers" if args.workers else "API"
    print(f"lienthong: {mode} on {where} (data: {hub.settings.data_dir})", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(serve(hub, args.host, args.port, workers=args.workers, reuse_port=args.reuse_port))
    return 0


def _worker(args: argparse.Namespace) -> int:
    from hub.entrypoints.bootstrap import freeze_startup_heap
    from hub.entrypoints.logs import configure_logging

    hub = _build(args)
    configure_logging(hub.settings.data_dir, events=hub.settings.security_events)

    async def main() -> None:
        # SIGTERM (systemd, docker stop) stops like Ctrl-C: the consumers settle or release
        # what they hold instead of leaving it leased to a dead process.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await hub.start_workers()
        freeze_startup_heap()
        print("lienthong: workers running", flush=True)
        try:
            await stop.wait()
        finally:
            await hub.stop()
            hub.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from adapters.store.engine import create_engine
    from adapters.store.migrate import upgrade

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    print("lienthong: database schema is up to date")
    return 0


def _systems_add(args: argparse.Namespace) -> int:
    with _build(args) as hub:
        secret = hub.services.systems.add(
            args.system_id,
            args.agency,
            secret=args.secret,
            name=args.name,
            max_age_s=args.max_age,
        )
        assert hub.inbound is not None
        hub.inbound.announcer.sync()  # the parent hub routes the new agencies to this hub
    print(f"lienthong: system {args.system_id} registered ({', '.join(args.agency)})")
    if not args.secret:
        print(f"secret: {secret}")
    return 0


def _systems_remove(args: argparse.Namespace) -> int:
    with _build(args) as hub:
        codes = hub.services.systems.remove(args.system_id)
        assert hub.inbound is not None
        hub.inbound.announcer.withdraw(codes)  # deleteAgency at every peer with a directory
    print(f"lienthong: system {args.system_id} removed ({', '.join(codes) or 'no agencies'})")
    return 0


def _systems_list(args: argparse.Namespace) -> int:
    with _build(args) as hub:
        systems = hub.services.systems.list()
    if args.json:
        print_json(
            [
                {
                    "system_id": s.id,
                    "name": s.name,
                    "enabled": s.enabled,
                    "agencies": list(s.agencies),
                    "max_age_s": s.max_age_s,
                }
                for s in systems
            ]
        )
        return 0
    for s in systems:
        state = "on " if s.enabled else "off"
        print(f"{state} {s.id:24} {', '.join(s.agencies)}")
    return 0


def _systems_rotate(args: argparse.Namespace) -> int:
    with _build(args) as hub:
        secret = hub.services.systems.rotate(args.system_id, args.secret)
    print(f"lienthong: system {args.system_id} has a new secret; the previous one still works")
    if not args.secret:
        print(f"secret: {secret}")
    return 0


def _systems_disable(args: argparse.Namespace) -> int:
    with _build(args) as hub:
        hub.services.systems.disable(args.system_id)
    print(f"lienthong: system {args.system_id} disabled")
    return 0


def _agencies_import(args: argparse.Namespace) -> int:
    from hub.agency.loading import load_registry
    from hub.services.registry import import_agencies

    registry = load_registry(Path(args.file))
    with _build(args) as hub, Progress("import", len(registry)) as bar:
        count = import_agencies(hub.uow, bar.iterate(registry), at=hub.clock.now(), actor="cli")
    print(f"lienthong: {count} agencies imported from {args.file}")
    return 0


def _agencies_list(args: argparse.Namespace) -> int:
    with _build(args) as hub:
        registry = hub.services.deps.registry()
    term = (args.search or "").casefold()
    agencies = [
        a for a in registry if not term or term in a.code.casefold() or term in a.name.casefold()
    ]
    agencies.sort(key=lambda a: a.code)
    if args.limit is not None:
        agencies = agencies[: args.limit]
    if args.json:
        print_json(
            [
                {
                    "code": a.code,
                    "name": a.name,
                    "code_qd20": a.code_qd20,
                    "parent_code": a.parent_code,
                    "level": a.level,
                    "system_id": a.system_id,
                    "valid_from": a.valid_from.isoformat() if a.valid_from else None,
                    "valid_to": a.valid_to.isoformat() if a.valid_to else None,
                    "successor_code": a.successor_code,
                    "email": a.email,
                    "former_codes": list(a.former_codes),
                }
                for a in agencies
            ]
        )
        return 0
    for a in agencies:
        closed = f"  → {a.successor_code}" if a.successor_code else ""
        print(f"{a.code:20} {a.system_id or '-':20} {a.name}{closed}")
    return 0


def _agencies_sync(args: argparse.Namespace) -> int:
    from adapters.peers.vxp_directory import VxpDirectory
    from adapters.vxp_client import VxpClient
    from hub.errors import InvalidRequest
    from hub.ports import NATIONAL_LINK
    from hub.services.registry_sync import RegistrySync, SyncPolicy

    settings = _settings(args)
    nat = settings.national
    if not (nat.endpoint and nat.system_id and nat.secret is not None):
        raise InvalidRequest(
            "the national axis is not configured (national.endpoint, system_id, secret)",
            message_vi="chưa cấu hình trục liên thông quốc gia (national.endpoint, system_id, "
            "secret)",
            code="national.not_configured",
        )
    with (
        VxpClient(nat.endpoint, nat.system_id, nat.secret.reveal()) as client,
        _build(args) as hub,
    ):
        sync = RegistrySync(
            hub.uow,
            hub.clock,
            policy=SyncPolicy(min_ratio=settings.registry_sync_min_ratio),
            health=hub.peer_health,
        )
        result = sync.sync(NATIONAL_LINK, VxpDirectory(client, NATIONAL_LINK), actor="cli:sync")
    if not result.accepted:
        print(
            f"lienthong: the national agency list was not stored ({result.reason}); "
            f"the {result.stored_before} stored records are kept",
            file=sys.stderr,
        )
        return 1
    print(f"lienthong: {result.received} agencies synchronised from the national axis")
    return 0


def _deliveries(args: argparse.Namespace) -> int:
    from hub.delivery import State

    if args.state not in {s.value for s in State}:
        known = ", ".join(s.value for s in State)
        print(f"lienthong: unknown state {args.state!r} (one of: {known})", file=sys.stderr)
        return 2
    with _build(args) as hub:
        monitor = hub.monitor()
        if args.redrive:
            moved = monitor.redrive(args.redrive, actor="cli")
            skipped = [i for i in args.redrive if i not in moved]
            print(f"lienthong: {len(moved)} deliveries put back to queued")
            if skipped:
                print(
                    f"lienthong: not redrivable (unknown, or not dead/undeliverable): "
                    f"{', '.join(skipped)}"
                )
            if moved:
                # The dispatch messages wait in the outbox; a running hub's relay sweep
                # publishes them (within its sweep interval).
                print("lienthong: a running hub dispatches them at its next outbox sweep")
        items = monitor.deliveries(args.state, limit=args.limit)
    if args.json:
        print_json([problem_json(i) for i in items])
        return 0
    print(f"{len(items)} deliveries in state {args.state}")
    for i in items:
        d = i.delivery
        print(
            f"{d.id}  {d.updated_at:%Y-%m-%d %H:%M:%S}Z  {d.recipient_code:16} {d.route:8} "
            f"x{d.attempts}  {d.last_error or ''}"
        )
    return 0


def _audit(args: argparse.Namespace) -> int:
    if args.what == "verify":
        return _audit_verify(args)
    with _build(args) as hub:
        rows = hub.monitor().audit(actor=args.actor, action=args.action, limit=args.limit)
    if args.json:
        print_json(
            [
                {
                    "at": r.at.isoformat(),
                    "actor": r.actor,
                    "action": r.action,
                    "subject": r.subject,
                    "outcome": r.outcome,
                    "details": dict(r.details),
                }
                for r in rows
            ]
        )
        return 0
    for r in rows:
        details = json.dumps(dict(r.details), ensure_ascii=False, default=str)
        print(
            f"{r.at:%Y-%m-%d %H:%M:%S}Z  {r.actor:24} {r.action:20} {r.subject or '-':38} "
            f"{r.outcome:12} {details}"
        )
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    """Exit 0 when the chain holds (unsealed rows are reported, not a failure), 1 when broken."""
    from hub.audit_chain import describe

    with _build(args) as hub:
        assert hub.sealer is not None
        report = hub.sealer.verify()  # read-only: the workers seal, every 2 s
    if args.json:
        print(json.dumps(describe(report), ensure_ascii=False, indent=2))
        return 0 if report.ok else 1
    print(f"sealed rows: {report.sealed}; checkpoints checked: {report.checkpoints_checked}")
    if report.unsealed:
        oldest = report.oldest_unsealed_at
        print(f"not yet sealed: {report.unsealed} (oldest {oldest:%Y-%m-%d %H:%M:%S}Z)")
    for problem in report.problems:
        print(f"problem: {problem}")
    if report.broken is not None:
        b = report.broken
        print(f"BROKEN at chain row {b.seq} (audit id {b.row_id}): {b.reason} — {b.detail}")
        return 1
    print("OK: the audit chain holds")
    return 0


def _demo(args: argparse.Namespace) -> int:
    keep = Path(args.keep) if args.keep else None
    if args.levels:
        from hub.entrypoints.demo_levels import run_levels_demo

        return run_levels_demo(keep=keep, lang=args.lang, out=sys.stdout)
    from hub.entrypoints.demo import run_demo

    return run_demo(keep=keep, lang=args.lang, out=sys.stdout)
