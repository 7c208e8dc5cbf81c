"""The door of both HTTP APIs: HMAC authentication, body size caps, and security events.

Both the VXP façade and the REST API authenticate with the VXP scheme (``vxp-protocol.md`` §8,
implemented sans-I/O in :mod:`hub.vxp.verify`), so one system credential works for both.
:class:`Gate` adds what needs I/O: the clock, the credential lookup through the service, reading
the body under a cap *after* the headers authenticated (an anonymous client never gets 50 MB
read) and at a minimum data rate (a client dribbling a body cannot hold a request open for
ever: the HTTP server itself bounds neither the body nor the headers in time), a pushed package
too large to hold in memory written to a temporary file as it arrives (:class:`SpooledBody`,
hashed on the way for the ``hash-file`` check), and one JSON line per refusal on the
``lienthong.security`` logger — system id, reason, the request's hash-header, never the
secret — also handed to an optional audit hook.

Repeated signatures. By default a repeated identical signature is accepted (§8 step 6: an SDK
service object legitimately repeats one for hours). With :attr:`ApiSettings.refuse_replays` a
deployment whose every connected system signs a fresh timestamp per request (lienthong hubs do)
refuses a repeat with :class:`hub.errors.ReplayedRequest` — HTTP 409, an ``ErrorDesc`` that says
"replay", never the "Authentication failed" of a wrong secret — so a client tells "sign again"
from "your credential is refused" (:func:`hub.vxp.replies.parse_reply`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import hashlib
import logging
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, BinaryIO, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from hub.edxml.source import PackageFile
from hub.errors import (
    AuthenticationFailed,
    HubError,
    PackageTooLarge,
    ReplayedRequest,
    RequestTimeout,
)
from hub.security import SECURITY_LOGGER, category_of_refusal, emit
from hub.services.contracts import HubService, SystemCredentials
from hub.vxp.verify import VerifiedRequest, VerifyPolicy, verify_request
from hub.vxp.wire import DEFAULT_ZONE

security_log = logging.getLogger(SECURITY_LOGGER)

#: Bytes gathered before each write of a spooled body to its file.
SPOOL_CHUNK = 1 << 20

Clock = Callable[[], dt.datetime]
T = TypeVar("T")


def utc_now() -> dt.datetime:
    """The default clock."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """Limits and presentation of the HTTP layer (the composition root maps hub settings here)."""

    max_package_bytes: int = 50 * 1024 * 1024
    """Cap on a pushed package (``sendEdoc``, ``POST /api/v1/packages``); larger → 413."""
    max_small_body_bytes: int = 64 * 1024
    """Cap on every other body (``{}``, ``registerAgency`` JSON, REST JSON)."""
    spool_bytes: int = 8 * 1024 * 1024
    """A pushed package larger than this is written to a temporary file as it arrives (and
    hashed on the way) instead of being held in memory; see :class:`SpooledBody`."""
    body_grace_s: float = 30.0
    """Time a body may take regardless of its size (and the longest wait for its first bytes)."""
    body_min_rate: int = 8 * 1024
    """Minimum average body rate in bytes/s beyond the grace time (8 KiB/s: a 50 MB package
    over a 64 kbit/s line); slower → 408. See :func:`read_capped`."""
    verify: VerifyPolicy = field(default_factory=VerifyPolicy)
    """Signed-header size cap and freshness window (per-system maximum age in credentials)."""
    lang: str = "vi"
    """Language of ``ErrorDesc`` / REST error messages ("vi" or "en")."""
    zone: str = DEFAULT_ZONE
    """Zone of the ``yyyy-MM-dd HH:mm:ss`` times in VXP replies."""
    credentials_ttl_s: float = 1.0
    """How long an *accepted* system's credentials are reused without asking the store (0: ask
    on every request). Bounds how late a ``systems disable`` made by another process takes
    effect here; a rotated secret works at once (a refusal re-reads the store first)."""
    refuse_replays: bool = False
    """Refuse signed headers seen before (within their freshness window) as a replay. Only for
    deployments whose systems all sign a fresh timestamp per request: the unmodified SDK does
    not (§2.1) and would see its repeated polls refused. The memory is per process."""
    replay_memory: int = 100_000
    """Most signatures remembered for :attr:`refuse_replays` (the oldest are forgotten first)."""
    threads: int = 40
    """Threads for the blocking part of a request (the service call, a credential read, a
    refusal's audit row): :meth:`Gate.call`. As many as Starlette's threadpool has."""


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One refused request, as logged and as handed to the audit hook."""

    at: str
    api: str  # "vxp" | "rest"
    operation: str
    http_status: int
    code: str
    reason: str
    system_id: str | None
    hash_header: str | None
    remote: str | None


AuditHook = Callable[[SecurityEvent], None]


@dataclass(frozen=True, slots=True)
class Authenticated:
    """What an endpoint receives: the verified request and its (capped) body."""

    verified: VerifiedRequest
    body: bytes
    spooled: SpooledBody | None = None
    """A large package body, in a temporary file (``body`` is then empty)."""

    def close(self) -> None:
        """Remove the spooled body's file, if any (after the package is stored)."""
        if self.spooled is not None:
            self.spooled.close()


class ReplayMemory:
    """Signatures seen, each kept until its timestamp is too old to be accepted anyway.

    Keyed by (system, hash-header): the HMAC covers the signed text, so two requests with one
    hash-header carry the same signed parameters and timestamp. Thread-safe; bounded by
    ``capacity`` (beyond it the oldest entries go, which can only let a very old repeat in).
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[tuple[str, str], dt.datetime] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, verified: VerifiedRequest, now: dt.datetime) -> bool:
        """Remember ``verified``; ``False`` if its signature was already seen and still fresh."""
        key = (verified.system_id, verified.hash_header)
        expires = verified.timestamp + dt.timedelta(seconds=verified.max_age_s)
        with self._lock:
            while self._seen:
                oldest_key, oldest = next(iter(self._seen.items()))
                if oldest > now and len(self._seen) < self._capacity:
                    break
                del self._seen[oldest_key]
            known = self._seen.get(key)
            if known is not None and known > now:
                return False
            self._seen[key] = expires
            return True


def replayed(verified: VerifiedRequest) -> ReplayedRequest:
    """The refusal of a repeated signature (the word "replay" in both languages: clients match
    it, see :func:`hub.vxp.replies.is_replay`)."""
    return ReplayedRequest(
        "Replayed request: these signed headers were already used; "
        "sign the request again with a fresh timestamp",
        message_vi="Yêu cầu bị phát lại (replay): chữ ký này đã được dùng; "
        "hãy ký lại yêu cầu với thời điểm (timestamp) mới",
        details={"reason": "replayed signature", "system_id": verified.system_id},
    )


class _NeedsStore(Exception):
    """A system's credentials are not cached: the check must run where the store may be read."""


class Gate:
    """Authenticate, read bodies under caps, and report refusals. One per app."""

    def __init__(
        self,
        service: HubService,
        settings: ApiSettings,
        clock: Clock = utc_now,
        audit: AuditHook | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.clock = clock
        self.audit = audit
        self._cache: dict[str, tuple[float, SystemCredentials]] = {}
        self._cache_lock = threading.Lock()
        # Idle threads end when the gate is collected (concurrent.futures' own rule).
        self._threads = ThreadPoolExecutor(settings.threads, thread_name_prefix="lienthong-http")
        self._replays = ReplayMemory(settings.replay_memory) if settings.refuse_replays else None

    def _lookup(self, used_cache: list[str]) -> Callable[[str], SystemCredentials | None]:
        """A credential lookup that reuses enabled systems' credentials for
        :attr:`ApiSettings.credentials_ttl_s` (one database read per system and interval
        instead of one per request: the read costs more CPU than the HMAC check itself).

        Only enabled credentials are kept; an unknown or disabled system is asked again every
        time. ``used_cache`` collects the ids answered from the cache, so a refusal can retry
        with fresh ones (see :meth:`verify`)."""

        def lookup(system_id: str) -> SystemCredentials | None:
            now = time.monotonic()
            hit = self._cache.get(system_id)
            if hit is not None and hit[0] > now:
                used_cache.append(system_id)
                return hit[1]
            creds = self.service.credentials(system_id)
            with self._cache_lock:
                if creds is not None and creds.enabled and self.settings.credentials_ttl_s > 0:
                    self._cache[system_id] = (now + self.settings.credentials_ttl_s, creds)
                else:
                    self._cache.pop(system_id, None)
            return creds

        return lookup

    def verify_cached(self, request: Request) -> VerifiedRequest | None:
        """:meth:`verify` when it needs no store read and logs nothing — the system's
        credentials cached and the request accepted on them — else ``None``, and then
        :meth:`verify` must decide (refusals included).

        Why: this is pure CPU (an HMAC), cheap enough for the event loop, while a hop to the
        threadpool and back costs more than the check itself; the accepted request then takes
        a single hop, for the service call."""
        now = time.monotonic()

        def cached(system_id: str) -> SystemCredentials:
            hit = self._cache.get(system_id)
            if hit is None or hit[0] <= now:
                raise _NeedsStore
            return hit[1]

        try:
            verified = verify_request(
                request.headers.raw, cached, self.clock(), self.settings.verify
            )
        except (_NeedsStore, HubError):
            return None
        if verified.age_s > self.settings.verify.default_max_age_s:
            return None  # logged by verify()
        return self._accepted(request, verified)

    def verify(self, request: Request) -> VerifiedRequest:
        """Verify the request's headers (sync: the credential lookup may hit the database)."""
        used_cache: list[str] = []
        try:
            verified = verify_request(
                request.headers.raw, self._lookup(used_cache), self.clock(), self.settings.verify
            )
        except HubError:
            if not used_cache:
                raise
            # The cached secret may be stale (rotated by another process): refuse only on what
            # the store says now.
            with self._cache_lock:
                for system_id in used_cache:
                    self._cache.pop(system_id, None)
            verified = verify_request(
                request.headers.raw, self.service.credentials, self.clock(), self.settings.verify
            )
        return self._accepted(request, verified)

    def _accepted(self, request: Request, verified: VerifiedRequest) -> VerifiedRequest:
        """The steps after a good signature: the replay rule and the stale-timestamp event."""
        request.state.system_id = verified.system_id
        if self._replays is not None and not self._replays.first_use(verified, self.clock()):
            raise replayed(verified)
        if verified.age_s > self.settings.verify.default_max_age_s:
            # §8 step 6: a system relying on a raised maximum age widens its replay window.
            emit(
                "stale_timestamp_accepted",
                "stale_request",
                system_id=verified.system_id,
                age_s=int(verified.age_s),
                hash_header=verified.hash_header,
            )
        return verified

    async def authenticate(
        self, request: Request, cap: int, *, spool: bool = False
    ) -> Authenticated:
        """Verify headers (on the loop when the credentials are cached, else in the
        threadpool), then read the body under ``cap`` bytes.

        With ``spool`` (package pushes), a body over :attr:`ApiSettings.spool_bytes` goes to
        :attr:`Authenticated.spooled` instead of memory; the caller closes it."""
        verified = self.verify_cached(request)
        if verified is None:
            verified = await self.call(self.verify, request)
        s = self.settings
        if not spool:
            body = await read_capped(request, cap, grace_s=s.body_grace_s, min_rate=s.body_min_rate)
            return Authenticated(verified, body)
        read = await read_spooled(
            request, cap, s.spool_bytes, grace_s=s.body_grace_s, min_rate=s.body_min_rate
        )
        if isinstance(read, SpooledBody):
            return Authenticated(verified, b"", read)
        return Authenticated(verified, read)

    async def call(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(*args)`` in the gate's threads (for blocking work: the service, the store).

        Awaited to its end even when the request is cancelled, as Starlette's threadpool does:
        the caller's cleanup (a spooled body's file) must not run while the call still uses it.
        Why not Starlette's ``run_in_threadpool``: anyio hands each call to its threads through
        a ``queue.Queue`` (Python locks and conditions), which showed as a quarter of the CPU
        of a façade request; ``concurrent.futures`` hands it over through a C queue."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._threads, contextvars.copy_context().run, fn, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            while not future.done():  # the thread cannot be stopped: let it finish
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait({future})
            raise

    async def refused_async(
        self, request: Request, exc: HubError, *, api: str, operation: str
    ) -> None:
        """:meth:`refused` for async callers: run in the threadpool, because the audit hook may
        write to the database (the composition root's does) and, on the event loop, a refusal
        waiting for SQLite's write lock would stall every other request — an anonymous client
        sending bad signatures could freeze the server."""
        await self.call(partial(self.refused, request, exc, api=api, operation=operation))

    def refused(self, request: Request, exc: HubError, *, api: str, operation: str) -> None:
        """Log one refusal as a JSON security event and pass it to the audit hook."""
        reason = exc.details.get("reason") if isinstance(exc, AuthenticationFailed) else None
        hash_header = request.headers.get("xroadvnpt-hash-header")
        event = SecurityEvent(
            at=self.clock().isoformat(),
            api=api,
            operation=operation,
            http_status=exc.http_status,
            code=exc.code,
            reason=str(reason or exc.message_en),
            system_id=getattr(request.state, "system_id", None)
            or (exc.details.get("system_id") if isinstance(exc, AuthenticationFailed) else None),
            hash_header=hash_header[:64] if hash_header else None,
            remote=request.client.host if request.client else None,
        )
        level = logging.WARNING if exc.http_status in (401, 403) else logging.INFO
        category = category_of_refusal(event.code, event.reason)
        emit("request_refused", category, level=level, **asdict(event))
        if self.audit is not None:
            try:
                self.audit(event)
            except Exception:  # the audit sink failing must not turn a 401 into a 500
                security_log.exception("audit hook failed")


async def read_capped(
    request: Request, cap: int, *, grace_s: float = 30.0, min_rate: int = 8 * 1024
) -> bytes:
    """The request body, refusing with :class:`PackageTooLarge` as soon as it exceeds ``cap``,
    and with :class:`RequestTimeout` when it arrives too slowly.

    ``Content-Length`` is checked first, then the stream is counted as it arrives, so an
    oversize body is never held in memory whole.

    Time rule (a minimum data rate, as HTTP servers built for the open internet apply): after
    ``n`` bytes the body may have taken ``grace_s + n / min_rate`` seconds; each wait for the
    next chunk is bounded by what remains of that allowance. A slowloris body — one byte every
    few seconds — is therefore cut after about ``grace_s``, while a large package on a slow but
    steady line keeps earning time.
    """
    return b"".join([chunk async for chunk in _body(request, cap, grace_s, min_rate)])


async def read_spooled(
    request: Request, cap: int, spool_bytes: int, *, grace_s: float = 30.0, min_rate: int = 8 * 1024
) -> bytes | SpooledBody:
    """:func:`read_capped`, but a body over ``spool_bytes`` (declared, or once that much has
    arrived) is written to a :class:`SpooledBody` — hashed on the way — instead of memory."""
    declared = _declared_length(request)
    spool = SpooledBody() if declared is not None and declared > spool_bytes else None
    held: list[bytes] = []
    total = 0
    try:
        async for chunk in _body(request, cap, grace_s, min_rate):
            if spool is not None:
                await spool.write(chunk)
                continue
            held.append(chunk)
            total += len(chunk)
            if total > spool_bytes:
                spool = SpooledBody()
                await spool.write(b"".join(held))
                held.clear()
        if spool is None:
            return b"".join(held)
        await spool.finish()
    except BaseException:
        if spool is not None:
            spool.close()
        raise
    return spool


def _declared_length(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    return int(declared) if declared is not None and declared.isdigit() else None


async def _body(request: Request, cap: int, grace_s: float, min_rate: int) -> AsyncIterator[bytes]:
    """The body's chunks under ``cap`` and the minimum-rate rule of :func:`read_capped`."""
    declared = _declared_length(request)
    if declared is not None and declared > cap:
        raise _too_large(cap)
    total = 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    stream = request.stream().__aiter__()
    while True:
        allowed = started + grace_s + total / min_rate - loop.time()
        try:
            async with asyncio.timeout(max(allowed, 0.0)):  # no task per chunk, as wait_for
                chunk = await anext(stream)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise _too_slow(total, loop.time() - started, min_rate) from None
        total += len(chunk)
        if total > cap:
            raise _too_large(cap)
        if chunk:
            yield chunk


class SpooledBody:
    """A request body in an anonymous temporary file, hashed with SHA-256 as it is written.

    Two digests come out (:meth:`finish`): of the whole body and, when it ends with CR LF, of
    the body without that CR LF — the two candidates of the ``hash-file`` check
    (:func:`hub.vxp.verify.check_hash_digests`) — so the body is never read back to be hashed.
    Writes are gathered into :data:`SPOOL_CHUNK` pieces and done in the threadpool: a slow disk
    never stalls the event loop. The file vanishes when closed (or when the process dies).
    """

    def __init__(self) -> None:
        # Outlives this call: closed by close(), once the package is stored.
        self.file: BinaryIO = tempfile.TemporaryFile(prefix="lienthong-body-")  # noqa: SIM115
        self.size = 0
        self._hash = hashlib.sha256()
        self._tail = b""  # the last 2 bytes, hashed only once it is known what follows them
        self._pending: list[bytes] = []
        self._pending_size = 0
        self.whole = b""
        self.trimmed: bytes | None = None

    async def write(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        if self._pending_size >= SPOOL_CHUNK:
            await self._flush()

    async def _flush(self) -> None:
        data = self._tail + b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        await run_in_threadpool(self._write, data)

    def _write(self, data: bytes) -> None:
        self.file.write(data[len(self._tail) :])
        self.size += len(data) - len(self._tail)
        self._hash.update(data[:-2])
        self._tail = data[-2:]

    async def finish(self) -> None:
        """Write what is pending and compute the digests."""
        await self._flush()
        if self._tail == b"\r\n":
            self.trimmed = self._hash.copy().digest()
        self._hash.update(self._tail)
        self.whole = self._hash.digest()
        await run_in_threadpool(self.file.flush)

    def digests(self) -> tuple[bytes, ...]:
        """The ``hash-file`` candidates in :func:`hub.vxp.verify.check_hash_file` order."""
        return (self.whole,) if self.trimmed is None else (self.trimmed, self.whole)

    def package(self, index: int) -> PackageFile:
        """The package named by ``digests()[index]`` (dropping the SDK's CR LF if it is the
        trimmed one), read from this file."""
        if self.trimmed is not None and index == 0:
            self.file.truncate(self.size - 2)
            self.size -= 2
            self.whole, self.trimmed = self.trimmed, None
        return PackageFile(self.file, self.size, self.whole.hex())

    def close(self) -> None:
        self.file.close()


def _too_slow(received: int, elapsed: float, min_rate: int) -> RequestTimeout:
    return RequestTimeout(
        f"request body too slow: {received} bytes in {elapsed:.0f} s "
        f"(minimum {min_rate} bytes/s after the grace time)",
        message_vi=f"dữ liệu gửi lên quá chậm: {received} byte trong {elapsed:.0f} giây "
        f"(tối thiểu {min_rate} byte/giây)",
        details={"received_bytes": received, "min_rate": min_rate},
    )


def _too_large(cap: int) -> PackageTooLarge:
    return PackageTooLarge(
        f"request body larger than {cap} bytes",
        message_vi=f"dữ liệu gửi lên vượt quá {cap} byte",
        details={"max_bytes": cap},
    )
