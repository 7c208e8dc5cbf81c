"""The hub's settings: one YAML file with safe defaults, overridden by ``LIENTHONG_*`` variables.

Contract: :func:`load_settings` reads ``config/settings.yaml`` (or the file given, or the one
``LIENTHONG_SETTINGS`` names), applies the environment, and returns a frozen :class:`Settings`
— or raises :class:`SettingsError` naming the first unknown key, bad value or missing secret.
Nothing else in the hub reads settings files or the environment; the composition root passes
the values (policies, scope, limits) to the engines that need them.

Environment variables (each overrides the file; any other ``LIENTHONG_*`` name is refused, so
a typo fails at start-up instead of being silently ignored — except ``LIENTHONG_KEY_PIN`` and
``LIENTHONG_TRUST_ANCHORS``, read by the signing commands, and ``LIENTHONG_TEST_*``, read by the
test suites):

==============================  ===============================  ==========================
variable                        setting                          form
==============================  ===============================  ==========================
``LIENTHONG_SETTINGS``          the file to read                 path
``LIENTHONG_ORGAN_ID``          ``hub.organ_id``                 agency code
``LIENTHONG_HUB_NAME``          ``hub.name``                     text
``LIENTHONG_SCOPE``             ``hub.scope``                    comma-separated
``LIENTHONG_ROLE``              ``hub.role``                     ``provincial`` | ``national``
``LIENTHONG_PRODUCTION``        ``hub.production``               1/0, true/false
``LIENTHONG_DATABASE_URL``      ``database.url``                 SQLAlchemy URL
``LIENTHONG_SQLITE_SYNCHRONOUS`` ``database.sqlite_synchronous`` ``full`` | ``normal``
``LIENTHONG_BROKER_URL``        ``broker.url``                   ``embedded`` | ``amqp://…[,…]``
``LIENTHONG_BROKER_PREFIX``     ``broker.prefix``                queue-name prefix
``LIENTHONG_BROKER_LEASE_S``    ``broker.lease_s``               seconds
``LIENTHONG_DATA_DIR``          ``data_dir``                     path
``LIENTHONG_BLOB_STORE``        ``blobs.store``                  ``filesystem`` | ``database``
``LIENTHONG_BLOB_INLINE_MAX``   ``blobs.inline_max_bytes``       integer (0 = off)
``LIENTHONG_MAX_PACKAGE_BYTES`` ``limits.max_package_bytes``     integer
``LIENTHONG_REGISTRY_SOURCE``   ``registry.source``              path (JSON/CSV)
``LIENTHONG_NATIONAL_ENDPOINT`` ``national.endpoint``            URL
``LIENTHONG_NATIONAL_SYSTEM_ID`` ``national.system_id``          text
``LIENTHONG_NATIONAL_SECRET``   ``national.secret``              secret
``LIENTHONG_NATIONAL_POLL``     ``national.poll``                1/0, true/false
``LIENTHONG_INBOUND_POLL_S``    ``inbound.poll_s``               seconds
``LIENTHONG_INBOUND_TRACK_S``   ``inbound.track_s``              seconds
``LIENTHONG_VERIFY_SIGNATURES`` ``signatures.verify``            1/0, true/false
``LIENTHONG_TRUST_NETWORK``     ``signatures.network``           1/0, true/false
``LIENTHONG_SECRET_KEY``        ``secret_key`` (env only)        Fernet key (hub.secrets)
``LIENTHONG_ADMIN_TOKEN``       ``admin.token``                  secret (IT dashboard login)
``LIENTHONG_LOOPBACK_LOGIN``    ``admin.loopback_without_login`` ``auto`` | true/false
==============================  ===============================  ==========================

Secrets (:class:`Secret`) never show in ``repr``; call :meth:`Secret.reveal` where the value is
used. The secret key is read from the environment only: a key in a file beside the data it
protects protects nothing (the embedded default generates one in the data dir, see
:mod:`hub.secrets`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hub.circuit import BreakerPolicy
from hub.errors import InternalError
from hub.messaging import RetryPolicy
from hub.policy import PolicyBook, SenderPolicy
from hub.resources import data_path
from hub.routing import PeerHub, Scope

ENV_PREFIX = "LIENTHONG_"


class SettingsError(InternalError):
    """Settings that cannot be used: unknown key, bad value, missing secret."""

    code = "settings.invalid"


class Secret:
    """A string that never appears in ``repr`` / ``str``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class NationalSettings:
    """The national document axis (VXP), when this hub is connected to it — or, for a hub
    below another lienthong hub, that parent (it serves the same protocol)."""

    endpoint: str | None = None
    system_id: str | None = None
    secret: Secret | None = None
    poll: bool = True
    """Poll its inbox for packages and statuses addressed to agencies served here."""

    @property
    def enabled(self) -> bool:
        return bool(self.endpoint and self.system_id and self.secret)


@dataclass(frozen=True, slots=True)
class PeerSettings:
    """Another hub reached directly: a peer provincial hub, a parent hub, a SOAP hub, an LGSP.

    ``kind`` picks the adapter (``adapters/peers``: ``vxp``, ``soap``, ``lgsp``); ``options``
    holds what only that kind reads (e.g. an LGSP's token URL), checked by its adapter.
    """

    name: str
    endpoint: str
    scope: Scope
    system_id: str | None = None
    secret: Secret | None = None
    kind: str = "vxp"
    poll: bool = True
    """Poll the peer for packages and statuses addressed to agencies served here."""
    options: Mapping[str, str] = field(default_factory=dict)

    def as_peer(self) -> PeerHub:
        return PeerHub(self.name, self.scope)


#: ``hub.role`` values: a provincial (or ministry) hub serves its scope; the national role
#: serves every agency (the axis other hubs connect to as ordinary systems).
ROLES = ("provincial", "national")


@dataclass(frozen=True, slots=True)
class SealKeySettings:
    """``seal.keys.<agency code>``: the agency's seal key (``POST /api/v1/sign/seal``).

    No secret here: the PIN or key-file password is read from the ``pin_env`` variable."""

    agency_code: str
    key: str
    """``file:PATH`` (PKCS#12 / PEM: key and certificate) or an RFC 7512 ``pkcs11:`` URI."""
    name: str | None = None
    """The agency name printed beside the seal (default: the certificate's organisation)."""
    image: Path | None = None
    """PNG of the seal; none: the seal is its text alone."""
    pin_env: str = "LIENTHONG_KEY_PIN"
    pool: int = 2
    """Signing sessions kept open for the key."""


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """The console's access rules (``admin.*`` besides the token; :mod:`hub.services.accounts`)."""

    loopback_without_login: bool | None = None
    """Loopback clients act as ``admin`` without logging in. ``None`` (``auto``, the default):
    only for a laptop hub on the embedded defaults (:meth:`Settings.loopback_mode`)."""
    session_idle_s: float = 30 * 60
    """A session unused this long ends (``admin.session_idle_s``)."""
    session_max_s: float = 8 * 3600
    """A session ends this long after its login (``admin.session_max_s``)."""
    login_max_failures: int = 5
    """Failed logins per account or address within 15 minutes before a lock."""
    login_lock_s: float = 60.0
    """The first lock's length, doubled by each further failure (at most 15 minutes)."""


@dataclass(frozen=True, slots=True)
class SecurityEventSettings:
    """Where security events go (``security_events.*``; :mod:`hub.security`)."""

    max_bytes: int = 10 * 1024 * 1024
    """The JSON-lines file rotates at this size."""
    backups: int = 10
    """Rotated files kept (``security.jsonl.1`` … ``.N``)."""
    max_age_days: float = 90.0
    """Rotated files older than this are deleted at the next rotation (0: keep by count)."""
    syslog: str | None = None
    """``host:port``: also send each event as RFC 5424 syslog over UDP (none: file only)."""
    anomaly_threshold: int = 30
    """Refusals of one system within a minute that raise a ``rate_anomaly`` event."""


@dataclass(frozen=True, slots=True)
class EvidenceSettings:
    """The ``evidence`` section (:mod:`hub.evidence`)."""

    tsa_url: str | None = None
    """RFC 3161 TSA stamping each sealing round's chain head; ``None``: chain, no timestamps."""
    tsa_max_outage_s: float = 3600.0
    """A TSA failing longer than this raises an alert (sealing goes on meanwhile)."""
    key: str | None = None
    """The hub's receipt-signing key: ``file:PATH`` or ``pkcs11:…`` (PIN: LIENTHONG_KEY_PIN)."""
    interval_s: float = 10.0
    """Seconds between sealing rounds (one timestamp per round with new events)."""
    max_lag_s: float = 600.0
    """Events unsealed longer than this make ``/readyz`` say degraded (the sealer lags)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the composition root needs, read once at start-up."""

    organ_id: str
    """This hub's agency code, written in the TraceHeader it appends (QCVN 102 §2.3)."""
    name: str
    scope: Scope
    """What this hub serves (level-1 keys and/or subtree roots; every agency when national)."""
    production: bool
    """Production mode: a missing secret key is an error instead of a generated key file."""
    database_url: str
    broker_url: str
    """``embedded`` (queues in the database) or ``amqp://`` URLs, comma-separated: every node
    of a RabbitMQ cluster (connections move to a live node when theirs dies)."""
    broker_prefix: str
    """Prefix of the queue and exchange names (several hubs may share one RabbitMQ)."""
    broker_lease_s: float
    """Embedded broker: how long a claimed message stays hidden from other consumers (a
    crashed worker's messages come back after this)."""
    data_dir: Path
    max_package_bytes: int
    max_age_s: int
    """Default HMAC freshness window of a new system (vxp-protocol §8)."""
    clock_skew_s: int
    """How far in the future an SDK timestamp may be."""
    national: NationalSettings
    peers: tuple[PeerSettings, ...]
    policy: PolicyBook
    retry: RetryPolicy
    registry_source: Path | None
    """Registry file (national registry shape, JSON/CSV); ``None``: the shipped sample."""
    verify_signatures: bool = True
    """Check envelope and PDF signatures at intake (verdicts stored; policy decides)."""
    trust_anchors: tuple[Path, ...] = ()
    """PEM bundles of trust anchors (the government CA chain). None: nothing is ``valid``."""
    trust_network: bool = False
    """Fetch CRLs and OCSP answers over the network (off: cached/offline data only)."""
    crl_files: tuple[Path, ...] = ()
    """CRL files (DER or PEM) loaded at start: an isolated network's revocation source."""
    secret_key: Secret | None = field(default=None)
    """The Fernet key protecting system secrets (``LIENTHONG_SECRET_KEY``)."""
    admin_token: Secret | None = field(default=None)
    """The IT dashboard's login token (``admin.token``); ``None``: loopback clients only."""
    inbox_page: int = 200
    """At most this many items per inbox listing (``limits.inbox_page``), oldest first."""
    intake_lanes: int = 8
    """How many such transactions may be written at once (``limits.intake_lanes``), each on its
    own connection. Default 1 on SQLite (one writer at a time anyway: the waiting pushes share
    the next commit and its fsync), 8 on PostgreSQL (pushes beyond 8 at once are grouped)."""
    intake_batch: int = 64
    """At most this many concurrent pushes written in one transaction (``limits.intake_batch``,
    group commit: :mod:`hub.services.group_commit`); 1 writes every push alone."""
    blob_store: str = "filesystem"
    """Where package bodies live (``blobs.store``): ``filesystem`` (``<data_dir>/blobs``; hub
    nodes that share it need a shared filesystem) or ``database`` (replicated with it)."""
    blob_inline_max_bytes: int = 64 * 1024
    """Bodies up to this size are kept in their package row, written by the push's own
    transaction (``blobs.inline_max_bytes``; 0 puts every body in ``blobs.store``):
    :mod:`adapters.store.row_blobs`."""
    api_workers: int = 1
    """HTTP API processes sharing the port (``api.workers``; ``serve``/``run --workers``)."""
    sqlite_synchronous: str = "full"
    """SQLite durability (``database.sqlite_synchronous``): ``full`` syncs every commit, so no
    answered push or acknowledgement is lost on power loss; ``normal`` syncs the WAL at
    checkpoints only (faster; the last commits may be lost on power loss, not on a crash of the
    process). The embedded broker's claims and acks commit unsynced either way (a lost one is a
    redelivery: ``adapters.broker.embedded``). Ignored on PostgreSQL. Cost:
    ``bench/RESULTS-durability.md``."""
    role: str = "provincial"
    """``provincial`` or ``national`` (``hub.role``; scope = every agency)."""
    inbound_poll_s: float = 10.0
    """Seconds between two rounds of the inbound loop: peers' inboxes polled, hosted agencies
    announced, forwarded copies tracked (``inbound.poll_s``)."""
    inbound_track_s: float = 60.0
    """A peer is asked what became of one forwarded package at most this often
    (``inbound.track_s``)."""
    refuse_replays: bool = False
    """Refuse repeated signed headers as a replay (``auth.refuse_replays``; HTTP 409, never
    "Authentication failed"), for hubs whose systems all sign a fresh timestamp per request:
    the unmodified SDK repeats them legitimately (vxp-protocol §2.1, §8 step 6)."""
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    """When a peer's circuit breaker opens and for how long (``breaker.*``)."""
    registry_sync_interval_s: float = 0.0
    """Sync the agency registry from each peer with a directory this often (0: never)."""
    registry_sync_min_ratio: float = 0.5
    """A synced list smaller than this fraction of the stored one is refused (truncated)."""
    seal_keys: tuple[SealKeySettings, ...] = ()
    """Agency seal keys (``seal.keys``); none: no ``/api/v1/sign/seal`` route."""
    seal_tsa_url: str | None = None
    """RFC 3161 timestamp authority of the seals (``seal.tsa_url``): PAdES B-T, else B-B."""
    evidence: EvidenceSettings = field(default_factory=lambda: EvidenceSettings())
    """Delivery evidence: the TSA that timestamps the chain, the key that signs receipts."""
    console: ConsoleSettings = field(default_factory=lambda: ConsoleSettings())
    """The console's access rules: loopback mode, session lifetimes, login throttling."""
    security_events: SecurityEventSettings = field(default_factory=lambda: SecurityEventSettings())
    """The security events' file rotation and retention, and the optional syslog target."""

    @property
    def loopback_mode(self) -> bool:
        """Whether loopback clients skip the console's login: as set, else (``auto``) only on
        the embedded defaults — SQLite, the embedded broker, no admin token."""
        if self.console.loopback_without_login is not None:
            return self.console.loopback_without_login
        laptop = self.embedded_broker and self.database_url.startswith("sqlite")
        return laptop and self.admin_token is None

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url == "embedded"


_ENV: Mapping[str, tuple[str, ...]] = {
    "LIENTHONG_ORGAN_ID": ("hub", "organ_id"),
    "LIENTHONG_HUB_NAME": ("hub", "name"),
    "LIENTHONG_SCOPE": ("hub", "scope"),
    "LIENTHONG_ROLE": ("hub", "role"),
    "LIENTHONG_PRODUCTION": ("hub", "production"),
    "LIENTHONG_DATABASE_URL": ("database", "url"),
    "LIENTHONG_SQLITE_SYNCHRONOUS": ("database", "sqlite_synchronous"),
    "LIENTHONG_BROKER_URL": ("broker", "url"),
    "LIENTHONG_BLOB_STORE": ("blobs", "store"),
    "LIENTHONG_BLOB_INLINE_MAX": ("blobs", "inline_max_bytes"),
    "LIENTHONG_BROKER_PREFIX": ("broker", "prefix"),
    "LIENTHONG_API_WORKERS": ("api", "workers"),
    "LIENTHONG_BROKER_LEASE_S": ("broker", "lease_s"),
    "LIENTHONG_DATA_DIR": ("data_dir",),
    "LIENTHONG_MAX_PACKAGE_BYTES": ("limits", "max_package_bytes"),
    "LIENTHONG_REGISTRY_SOURCE": ("registry", "source"),
    "LIENTHONG_NATIONAL_ENDPOINT": ("national", "endpoint"),
    "LIENTHONG_NATIONAL_SYSTEM_ID": ("national", "system_id"),
    "LIENTHONG_NATIONAL_SECRET": ("national", "secret"),
    "LIENTHONG_NATIONAL_POLL": ("national", "poll"),
    "LIENTHONG_INBOUND_POLL_S": ("inbound", "poll_s"),
    "LIENTHONG_INBOUND_TRACK_S": ("inbound", "track_s"),
    "LIENTHONG_VERIFY_SIGNATURES": ("signatures", "verify"),
    "LIENTHONG_TRUST_NETWORK": ("signatures", "network"),
    "LIENTHONG_ADMIN_TOKEN": ("admin", "token"),
    "LIENTHONG_LOOPBACK_LOGIN": ("admin", "loopback_without_login"),
    "LIENTHONG_EVIDENCE_TSA_URL": ("evidence", "tsa_url"),
    "LIENTHONG_EVIDENCE_KEY": ("evidence", "key"),
}
_ENV_ONLY = frozenset({"LIENTHONG_SETTINGS", "LIENTHONG_SECRET_KEY"})
#: Variables other components read (the signing CLI's PIN and trust anchors); not settings,
#: but not typos either. ``LIENTHONG_TEST_*`` belongs to the test suites.
_READ_ELSEWHERE = frozenset({"LIENTHONG_KEY_PIN", "LIENTHONG_TRUST_ANCHORS"})
_TEST_PREFIX = "LIENTHONG_TEST_"


class _Section:
    """A mapping read key by key; :meth:`done` refuses whatever was not read."""

    def __init__(self, raw: Any, where: str) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise SettingsError(f"{where or 'settings'}: expected a mapping, got {raw!r}")
        self.raw = dict(raw)
        self.where = where
        self.seen: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return self.raw.get(key, default)

    def section(self, key: str) -> _Section:
        return _Section(self.get(key), self._name(key))

    def typed(self, key: str, conv: Callable[[Any], Any], default: Any = None) -> Any:
        value = self.get(key, default)
        if value is None:
            return None
        try:
            return conv(value)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{self._name(key)}: bad value {value!r} ({exc})") from None

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self.seen)
        if unknown:
            raise SettingsError(
                f"unknown setting {self._name(unknown[0])!r}",
                message_vi=f"khóa cấu hình không xác định {self._name(unknown[0])!r}",
                details={"key": self._name(unknown[0])},
            )


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true/false")


def _list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise ValueError("expected a list")


def _secret(value: Any) -> Secret | None:
    return Secret(str(value)) if value else None


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> Secret | None:
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in _ENV_ONLY or name in _READ_ELSEWHERE:
            continue
        if name.startswith(_TEST_PREFIX):
            continue
        path = _ENV.get(name)
        if path is None:
            raise SettingsError(
                f"unknown environment variable {name!r} (known: {', '.join(sorted(_ENV))})",
                message_vi=f"biến môi trường không xác định {name!r}",
                details={"key": name},
            )
        node = raw
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = value
    return _secret(env.get("LIENTHONG_SECRET_KEY"))


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings file, apply the environment, validate; see the module docstring."""
    env = os.environ if env is None else env
    if path is None:
        path = env.get("LIENTHONG_SETTINGS") or data_path("config", "settings.yaml")
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"cannot read settings file {file}: {exc}") from exc
    if not isinstance(raw, dict):
        raise SettingsError(f"{file}: the settings file must be a mapping")
    secret_key = _apply_env(raw, env)
    return _build(_Section(raw, ""), secret_key, base=file.parent)


def _build(root: _Section, secret_key: Secret | None, *, base: Path) -> Settings:
    hub = root.section("hub")
    organ_id = hub.typed("organ_id", str)
    if not organ_id:
        raise SettingsError("hub.organ_id is required (the hub's agency code for TraceHeader)")
    name = hub.typed("name", str, organ_id)
    scope = Scope.parse(hub.typed("scope", _list, []))
    production = hub.typed("production", _bool, False)
    role = hub.typed("role", str, "provincial")
    hub.done()
    if role not in ROLES:
        raise SettingsError(f"hub.role: expected one of {', '.join(ROLES)}, got {role!r}")
    if role == "national":
        scope = Scope(everything=True)

    data_dir = Path(root.typed("data_dir", str, "var/lienthong")).expanduser()
    if not data_dir.is_absolute():
        data_dir = (Path.cwd() / data_dir).resolve()
    database = root.section("database")
    database_url = database.typed("url", str) or f"sqlite:///{data_dir / 'hub.db'}"
    sqlite_synchronous = str(database.typed("sqlite_synchronous", str, "full")).lower()
    database.done()
    if sqlite_synchronous not in ("full", "normal"):
        raise SettingsError(
            f"database.sqlite_synchronous: full or normal, got {sqlite_synchronous!r}"
        )
    broker = root.section("broker")
    broker_url = broker.typed("url", str, "embedded")
    broker_prefix = broker.typed("prefix", str, "lienthong")
    broker_lease_s = broker.typed("lease_s", float, 60.0)
    broker.done()
    if not broker_prefix or not all(c.isalnum() or c in "._-" for c in broker_prefix):
        raise SettingsError(f"broker.prefix: letters, digits and . _ - only, got {broker_prefix!r}")
    if broker_lease_s <= 0:
        raise SettingsError(f"broker.lease_s: must be positive, got {broker_lease_s!r}")
    if broker_url != "embedded":
        nodes = [u.strip() for u in broker_url.split(",")]
        for number, node in enumerate(nodes, 1):
            if not node.startswith(("amqp://", "amqps://")):
                # never echo the value: it may hold a password
                raise SettingsError(
                    f"broker.url: expected 'embedded' or amqp://… (a comma-separated list for"
                    f" a cluster); URL number {number} of {len(nodes)} is not an amqp:// URL"
                )

    limits = root.section("limits")
    max_bytes = limits.typed("max_package_bytes", int, 50 * 1024 * 1024)
    inbox_page = limits.typed("inbox_page", int, 200)
    intake_batch = limits.typed("intake_batch", int, 64)
    # SQLite has one writer: one lane gathers every waiting push into the next transaction.
    lanes_default = 1 if database_url.startswith("sqlite") else 8
    intake_lanes = limits.typed("intake_lanes", int, lanes_default)
    limits.done()
    if inbox_page < 1:
        raise SettingsError(f"limits.inbox_page: must be at least 1, got {inbox_page!r}")
    if intake_lanes < 1:
        raise SettingsError(f"limits.intake_lanes: must be at least 1, got {intake_lanes!r}")
    if intake_batch < 1:
        raise SettingsError(f"limits.intake_batch: must be at least 1, got {intake_batch!r}")
    api = root.section("api")
    blob_section = root.section("blobs")
    blob_store = blob_section.typed("store", str, "filesystem")
    blob_inline_max = blob_section.typed("inline_max_bytes", int, 64 * 1024)
    blob_section.done()
    if blob_inline_max < 0:
        raise SettingsError(f"blobs.inline_max_bytes: must be 0 or more, got {blob_inline_max!r}")
    if blob_store not in ("filesystem", "database"):
        raise SettingsError(f"blobs.store: 'filesystem' or 'database', got {blob_store!r}")
    api_workers = api.typed("workers", int, 1)
    api.done()
    if api_workers < 1:
        raise SettingsError(f"api.workers: must be at least 1, got {api_workers!r}")
    auth = root.section("auth")
    max_age_s = auth.typed("max_age_s", int, 300)
    clock_skew_s = auth.typed("clock_skew_s", int, 60)
    refuse_replays = auth.typed("refuse_replays", _bool, False)
    auth.done()

    nat = root.section("national")
    national = NationalSettings(
        nat.typed("endpoint", str),
        nat.typed("system_id", str),
        nat.typed("secret", _secret),
        nat.typed("poll", _bool, True),
    )
    nat.done()
    inbound = root.section("inbound")
    inbound_poll_s = inbound.typed("poll_s", float, 10.0)
    inbound_track_s = inbound.typed("track_s", float, 60.0)
    inbound.done()
    if inbound_poll_s <= 0:
        raise SettingsError(f"inbound.poll_s: must be positive, got {inbound_poll_s!r}")
    if inbound_track_s < 0:
        raise SettingsError(f"inbound.track_s: must not be negative, got {inbound_track_s!r}")

    peers: list[PeerSettings] = []
    peer_root = root.section("peers")
    for peer_name in list(peer_root.raw):
        p = peer_root.section(peer_name)
        endpoint = p.typed("endpoint", str)
        if not endpoint:
            raise SettingsError(f"peers.{peer_name}.endpoint is required")
        peers.append(
            PeerSettings(
                str(peer_name),
                endpoint,
                Scope.parse(p.typed("scope", _list, [])),
                p.typed("system_id", str),
                p.typed("secret", _secret),
                p.typed("kind", str, "vxp"),
                p.typed("poll", _bool, True),
                {str(k): str(v) for k, v in (p.typed("options", dict, {}) or {}).items()},
            )
        )
        p.done()
    peer_root.done()

    pol = root.section("policy")
    try:
        default = SenderPolicy.from_mapping(pol.get("default") or {}, where="policy.default")
        senders = _Section(pol.get("senders"), "policy.senders")
        overrides = {
            str(code): SenderPolicy.from_mapping(
                senders.get(code) or {}, where=f"policy.senders.{code}"
            )
            for code in list(senders.raw)
        }
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    pol.done()

    ret = root.section("retry")
    retry = RetryPolicy(
        ret.typed("max_attempts", int, 8),
        ret.typed("base_delay_s", float, 2.0),
        ret.typed("max_delay_s", float, 600.0),
        ret.typed("peer_give_up_s", float, 86400.0),
        ret.typed("jitter", float, 0.2),
    )
    ret.done()
    if retry.peer_give_up_s <= 0 or not 0 <= retry.jitter < 1:
        raise SettingsError("retry.peer_give_up_s must be positive and retry.jitter in [0, 1)")
    brk = root.section("breaker")
    try:
        breaker = BreakerPolicy(
            brk.typed("failures", int, 5),
            brk.typed("cooldown_s", float, 60.0),
            brk.typed("auth_cooldown_s", float, 900.0),
        )
    except ValueError as exc:
        raise SettingsError(f"breaker: {exc}") from None
    brk.done()

    reg = root.section("registry")
    source = reg.typed("source", str)
    sync_interval_s = reg.typed("sync_interval_s", float, 0.0)
    sync_min_ratio = reg.typed("sync_min_ratio", float, 0.5)
    reg.done()
    if sync_interval_s < 0 or not 0 <= sync_min_ratio <= 1:
        raise SettingsError(
            "registry.sync_interval_s must be >= 0 and registry.sync_min_ratio in [0, 1]"
        )

    sig = root.section("signatures")
    verify_signatures = sig.typed("verify", _bool, True)
    anchors = tuple(
        p if p.is_absolute() else (base / p).resolve()
        for p in (Path(a).expanduser() for a in sig.typed("trust_anchors", _list, []))
    )
    trust_network = sig.typed("network", _bool, False)
    crl_files = tuple(
        p if p.is_absolute() else (base / p).resolve()
        for p in (Path(a).expanduser() for a in sig.typed("crl_files", _list, []))
    )
    sig.done()
    ev = root.section("evidence")
    evidence = EvidenceSettings(
        tsa_url=ev.typed("tsa_url", str),
        tsa_max_outage_s=ev.typed("tsa_max_outage_s", float, 3600.0),
        key=ev.typed("key", str),
        interval_s=ev.typed("interval_s", float, 10.0),
        max_lag_s=ev.typed("max_lag_s", float, 600.0),
    )
    ev.done()
    adm = root.section("admin")
    admin_token = adm.typed("token", _secret)
    loopback = adm.get("loopback_without_login", "auto")
    loopback_mode = (
        None
        if loopback is None or str(loopback).lower() == "auto"
        else adm.typed("loopback_without_login", _bool)
    )
    console = ConsoleSettings(
        loopback_without_login=loopback_mode,
        session_idle_s=adm.typed("session_idle_s", float, 30 * 60.0),
        session_max_s=adm.typed("session_max_s", float, 8 * 3600.0),
        login_max_failures=adm.typed("login_max_failures", int, 5),
        login_lock_s=adm.typed("login_lock_s", float, 60.0),
    )
    adm.done()
    if min(console.session_idle_s, console.session_max_s, console.login_lock_s) <= 0 or (
        console.login_max_failures < 1
    ):
        raise SettingsError("admin.session_*_s and admin.login_* must be positive")
    sev = root.section("security_events")
    security_events = SecurityEventSettings(
        max_bytes=sev.typed("max_bytes", int, 10 * 1024 * 1024),
        backups=sev.typed("backups", int, 10),
        max_age_days=sev.typed("max_age_days", float, 90.0),
        syslog=sev.typed("syslog", str),
        anomaly_threshold=sev.typed("anomaly_threshold", int, 30),
    )
    sev.done()
    if security_events.syslog is not None:
        host, _, port = security_events.syslog.rpartition(":")
        if not host or not port.isdigit():
            raise SettingsError(
                f"security_events.syslog: host:port expected, got {security_events.syslog!r}"
            )
    seal = root.section("seal")
    seal_tsa_url = seal.typed("tsa_url", str)
    seal_keys = _seal_keys(seal.section("keys"), base)
    seal.done()
    root.done()

    registry_source = Path(source).expanduser() if source else None
    if registry_source is not None and not registry_source.is_absolute():
        registry_source = (base / registry_source).resolve()
    if production and secret_key is None:
        raise SettingsError(
            "LIENTHONG_SECRET_KEY is required in production mode",
            message_vi="chế độ vận hành thật cần biến môi trường LIENTHONG_SECRET_KEY",
            code="settings.secret_key_missing",
        )
    return Settings(
        organ_id=organ_id,
        name=name,
        scope=scope,
        production=production,
        database_url=database_url,
        broker_url=broker_url,
        broker_prefix=broker_prefix,
        broker_lease_s=broker_lease_s,
        data_dir=data_dir,
        max_package_bytes=max_bytes,
        max_age_s=max_age_s,
        clock_skew_s=clock_skew_s,
        refuse_replays=refuse_replays,
        national=national,
        peers=tuple(peers),
        policy=PolicyBook(default, overrides),
        retry=retry,
        registry_source=registry_source,
        verify_signatures=verify_signatures,
        trust_anchors=anchors,
        trust_network=trust_network,
        crl_files=crl_files,
        secret_key=secret_key,
        admin_token=admin_token,
        inbox_page=inbox_page,
        intake_batch=intake_batch,
        intake_lanes=intake_lanes,
        blob_store=blob_store,
        blob_inline_max_bytes=blob_inline_max,
        api_workers=api_workers,
        sqlite_synchronous=sqlite_synchronous,
        role=role,
        inbound_poll_s=inbound_poll_s,
        inbound_track_s=inbound_track_s,
        breaker=breaker,
        registry_sync_interval_s=sync_interval_s,
        registry_sync_min_ratio=sync_min_ratio,
        seal_keys=seal_keys,
        seal_tsa_url=seal_tsa_url,
        evidence=evidence,
        console=console,
        security_events=security_events,
    )


def _seal_keys(keys: _Section, base: Path) -> tuple[SealKeySettings, ...]:
    out = []
    for code in list(keys.raw):
        k = keys.section(code)
        key = k.typed("key", str)
        if not key or not key.startswith(("file:", "pkcs11:")):
            raise SettingsError(f"seal.keys.{code}.key: a file: or pkcs11: reference is required")
        image = k.typed("image", str)
        image_path = Path(image).expanduser() if image else None
        if image_path is not None and not image_path.is_absolute():
            image_path = (base / image_path).resolve()
        out.append(
            SealKeySettings(
                str(code),
                key,
                k.typed("name", str),
                image_path,
                k.typed("pin_env", str, "LIENTHONG_KEY_PIN"),
                k.typed("pool", int, 2),
            )
        )
        k.done()
    keys.done()
    return tuple(out)
