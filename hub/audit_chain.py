"""The audit log as a hash chain: a rewritten, deleted or reordered row is detected, and signed
checkpoints (anchors) kept outside the database detect a rewrite of the whole tail too.

Theory of operation. Rows are appended by every transaction that does something worth
recording (a push, a redrive, a refusal) — unchanged, so the hot path takes no lock. A
**sealer** (one process across the nodes, under a lease: :mod:`hub.scheduling`) then links the
rows not yet sealed, in id order: each gets ``chain_seq`` (1, 2, 3…), ``prev_hash`` (the hash of
the row sealed before it, :data:`GENESIS` for the first) and ``hash`` = SHA-256 over the row's
canonical form (:func:`canonical`) and ``prev_hash``. A sealed row is never written again.
Every :attr:`SealPolicy.checkpoint_every` rows (and at least every
:attr:`SealPolicy.checkpoint_s` seconds of activity) the sealer writes a **checkpoint**
``(seq, hash, at)`` authenticated with an HMAC under a key derived from the hub's secret key
(which lives in the environment, not in the database), into the database AND into an
append-only file beside it (``<data_dir>/audit-anchors.jsonl``): whoever rewrites the chain from
some row on, recomputing every hash, still cannot produce the anchors' MACs, and the file still
names the old hashes.

:func:`verify` walks the chain in ``chain_seq`` order and names the first broken row: a changed
field (``hash`` no longer matches), a deleted row (``prev_hash`` names a hash that is not the
previous row's, or a gap in ``chain_seq``), rows swapped (both). Rows not yet sealed are
reported with the age of the oldest (normally seconds); they are the window in which a row is
not yet protected.

The linking and the walk are generic: :func:`link` and :func:`verify` take the canonical-form
function of the rows they chain (``canon``, default :func:`canonical` for audit rows), so the
delivery evidence chain (:mod:`hub.evidence`) is built and checked by this same code.

Sans-I/O: rows in, findings out. Storage is :class:`hub.ports.AuditChainStore`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from hub.ports import AuditRow

#: ``prev_hash`` of the first sealed row.
GENESIS = "0" * 64


class Chainable(Protocol):
    """What the chain needs of a row besides its canonical form: the store's id and a time."""

    @property
    def id(self) -> int | None: ...

    @property
    def at(self) -> dt.datetime: ...


R = TypeVar("R", bound=Chainable)


@dataclass(frozen=True, slots=True)
class SealedRow(Generic[R]):
    """A row (an audit row, a delivery event…) with its place in the chain."""

    row: R
    seq: int
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: the chain's row ``seq`` had hash ``hash`` at ``at``."""

    seq: int
    hash: str
    at: dt.datetime
    mac: str

    def to_json(self) -> str:
        return json.dumps(
            {"seq": self.seq, "hash": self.hash, "at": self.at.isoformat(), "mac": self.mac},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, line: str) -> Checkpoint:
        data = json.loads(line)
        return cls(
            int(data["seq"]), str(data["hash"]), dt.datetime.fromisoformat(data["at"]), data["mac"]
        )


@dataclass(frozen=True, slots=True)
class SealPolicy:
    """How often the sealer anchors the chain."""

    checkpoint_every: int = 1000
    """Rows between two checkpoints."""
    checkpoint_s: float = 300.0
    """At most this long between checkpoints while rows are being sealed."""


class AuditChainStore(Protocol):
    """Where the chain lives (``adapters/store/audit_chain.py``; ``adapters/memory.py``)."""

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last sealed row; ``(0, GENESIS)`` for an empty chain."""
        ...

    def unsealed(self, limit: int) -> Sequence[AuditRow]:
        """Rows not sealed yet, in id order, at most ``limit``."""
        ...

    def seal(self, sealed: Sequence[SealedRow[AuditRow]], checkpoint: Checkpoint | None) -> None:
        """Write the links (and the checkpoint) in one transaction. Raises
        :class:`hub.errors.Conflict` (``audit.raced``) and writes nothing when another sealer
        got there first (a row already sealed, or the head moved)."""
        ...

    def chain(self) -> Iterator[SealedRow[AuditRow]]:
        """Every sealed row, ascending ``seq``, read in pages."""
        ...

    def checkpoints(self) -> Sequence[Checkpoint]: ...


def canonical(row: AuditRow) -> bytes:
    """The bytes a row's hash covers: every field but the store's id, as sorted compact JSON
    (UTC times in ISO 8601 with microseconds), so any engine reproduces them."""
    at = row.at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return json.dumps(
        {
            "at": at,
            "actor": row.actor,
            "action": row.action,
            "subject": row.subject,
            "outcome": row.outcome,
            "details": row.details,
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    ).encode("utf-8")


def link_hash(row: Any, prev_hash: str, canon: Callable[[Any], bytes] = canonical) -> str:
    """``SHA-256(prev_hash ‖ canon(row))`` as hex."""
    return hashlib.sha256(prev_hash.encode("ascii") + canon(row)).hexdigest()


def link(
    rows: Iterable[R],
    head_seq: int,
    head_hash: str,
    canon: Callable[[R], bytes] = canonical,  # type: ignore[assignment]
) -> list[SealedRow[R]]:
    """Seal ``rows`` (in the order given) after the chain's head; ``canon`` gives the bytes
    each row's hash covers."""
    sealed: list[SealedRow[R]] = []
    seq, prev = head_seq, head_hash
    for row in rows:
        seq += 1
        digest = link_hash(row, prev, canon)
        sealed.append(SealedRow(row, seq, prev, digest))
        prev = digest
    return sealed


def anchor_key(secret_key: bytes) -> bytes:
    """The checkpoints' MAC key, derived from the hub's secret key (never stored)."""
    return hmac.new(secret_key, b"lienthong audit chain anchors v1", hashlib.sha256).digest()


def sign_checkpoint(key: bytes, seq: int, digest: str, at: dt.datetime) -> Checkpoint:
    return Checkpoint(seq, digest, at, _mac(key, seq, digest, at))


def _mac(key: bytes, seq: int, digest: str, at: dt.datetime) -> str:
    message = f"{seq}|{digest}|{at.astimezone(dt.UTC).isoformat()}".encode("ascii")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Break:
    """The first place the chain does not hold."""

    seq: int
    row_id: int | None
    reason: str  # "edited", "deleted or reordered", "gap", "checkpoint mismatch"…
    detail: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What :func:`verify` found."""

    sealed: int
    unsealed: int
    oldest_unsealed_at: dt.datetime | None
    checkpoints_checked: int
    broken: Break | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.broken is None and not self.problems


def verify(
    chain: Iterable[SealedRow[R]],
    checkpoints: Sequence[Checkpoint],
    *,
    key: bytes | None,
    unsealed: Sequence[Chainable] = (),
    canon: Callable[[R], bytes] = canonical,  # type: ignore[assignment]
) -> ChainReport:
    """Walk ``chain`` (ascending ``seq``) and check every link and every checkpoint.

    ``checkpoints``: from the database and the anchors file together (duplicates are fine).
    Without ``key`` the MACs cannot be checked and that is reported as a problem (a chain
    anchored otherwise — the evidence chain's timestamps — passes no checkpoints and no key).
    """
    by_seq: dict[int, list[Checkpoint]] = {}
    for cp in checkpoints:
        by_seq.setdefault(cp.seq, []).append(cp)
    problems: list[str] = []
    checked = 0
    if key is None and checkpoints:
        problems.append("no secret key: the checkpoints' signatures were not checked")
    expected_seq, prev = 1, GENESIS
    count = 0
    broken: Break | None = None
    for sealed in chain:
        count += 1
        rid = sealed.row.id
        if sealed.seq != expected_seq:
            broken = Break(
                expected_seq, rid, "gap", f"row {expected_seq} is missing (found {sealed.seq})"
            )
            break
        if sealed.prev_hash != prev:
            broken = Break(
                sealed.seq,
                rid,
                "deleted or reordered",
                "its prev_hash is not the hash of the row before it",
            )
            break
        actual = link_hash(sealed.row, sealed.prev_hash, canon)
        if actual != sealed.hash:
            broken = Break(sealed.seq, rid, "edited", "its content no longer hashes to its hash")
            break
        for cp in by_seq.get(sealed.seq, ()):
            checked += 1
            if key is not None and not hmac.compare_digest(
                cp.mac, _mac(key, cp.seq, cp.hash, cp.at)
            ):
                problems.append(f"checkpoint at row {cp.seq}: signature does not verify")
            elif cp.hash != sealed.hash:
                broken = Break(
                    sealed.seq,
                    rid,
                    "rewritten",
                    "a signed checkpoint names another hash for this row",
                )
                break
        if broken is not None:
            break
        expected_seq, prev = sealed.seq + 1, sealed.hash
    if broken is None:
        beyond = sorted(seq for seq in by_seq if seq >= expected_seq)
        if beyond:
            broken = Break(
                beyond[0],
                None,
                "truncated",
                f"a signed checkpoint names row {beyond[0]}, past the end of the chain",
            )
    oldest = min((r.at for r in unsealed), default=None)
    return ChainReport(count, len(unsealed), oldest, checked, broken, tuple(problems))


def dump_checkpoints(lines: Iterable[str]) -> list[Checkpoint]:
    """Checkpoints from the anchors file's lines (blank lines skipped)."""
    return [Checkpoint.from_json(line) for line in lines if line.strip()]


def describe(report: ChainReport) -> dict[str, Any]:
    """The report as JSON-able data (``lienthong audit verify --json``)."""
    out: dict[str, Any] = {
        "ok": report.ok,
        "sealed_rows": report.sealed,
        "unsealed_rows": report.unsealed,
        "oldest_unsealed_at": report.oldest_unsealed_at.isoformat()
        if report.oldest_unsealed_at
        else None,
        "checkpoints_checked": report.checkpoints_checked,
        "problems": list(report.problems),
        "broken": None,
    }
    if report.broken is not None:
        out["broken"] = {
            "seq": report.broken.seq,
            "row_id": report.broken.row_id,
            "reason": report.broken.reason,
            "detail": report.broken.detail,
        }
    return out
