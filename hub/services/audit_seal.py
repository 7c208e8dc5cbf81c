"""The audit sealer: links new audit rows into the hash chain and anchors it (hub.audit_chain).

One process across the nodes seals (the worker loop asks a :class:`hub.scheduling.Leader`
first); a racing second sealer loses cleanly (``audit.raced``) and tries again next round. A
checkpoint is written into the database with the links, then appended to the anchors file
(``<data_dir>/audit-anchors.jsonl``, fsynced): if the process dies between the two, the next
checkpoint covers it; a checkpoint in the file but not in the database means the database was
rewritten — exactly what the file is for.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from hub.audit_chain import (
    AuditChainStore,
    ChainReport,
    Checkpoint,
    SealPolicy,
    dump_checkpoints,
    link,
    sign_checkpoint,
    verify,
)
from hub.errors import Conflict
from hub.ports import Clock

log = logging.getLogger(__name__)

ANCHORS_FILE = "audit-anchors.jsonl"


@dataclass
class AuditSealer:
    """Seals what is new each round (:meth:`seal_once`); checks the whole chain (:meth:`verify`)."""

    store: AuditChainStore
    clock: Clock
    key: bytes | None
    anchors: Path | None
    policy: SealPolicy = field(default_factory=SealPolicy)
    batch: int = 500
    _last_checkpoint_seq: int | None = None
    _last_checkpoint_at: dt.datetime | None = None

    def seal_once(self) -> int:
        """Seal up to ``batch`` rows; return how many (0 when nothing new or a race was lost)."""
        rows = self.store.unsealed(self.batch)
        if not rows:
            return 0
        seq, digest = self.store.head()
        sealed = link(rows, seq, digest)
        checkpoint = self._checkpoint_due(sealed[-1].seq, sealed[-1].hash)
        try:
            self.store.seal(sealed, checkpoint)
        except Conflict as exc:
            if exc.code != "audit.raced":
                raise
            log.info("audit sealer: another process sealed first")
            return 0
        if checkpoint is not None:
            self._anchor(checkpoint)
        return len(sealed)

    def _checkpoint_due(self, seq: int, digest: str) -> Checkpoint | None:
        if self.key is None:
            return None
        now = self.clock.now()
        if self._last_checkpoint_seq is None:
            saved = self.store.checkpoints()
            self._last_checkpoint_seq = saved[-1].seq if saved else 0
            self._last_checkpoint_at = saved[-1].at if saved else None
        rows_since = seq - self._last_checkpoint_seq
        age = (
            None
            if self._last_checkpoint_at is None
            else (now - self._last_checkpoint_at).total_seconds()
        )
        if rows_since < self.policy.checkpoint_every and (
            age is not None and age < self.policy.checkpoint_s
        ):
            return None
        self._last_checkpoint_seq, self._last_checkpoint_at = seq, now
        return sign_checkpoint(self.key, seq, digest, now)

    def _anchor(self, checkpoint: Checkpoint) -> None:
        if self.anchors is None:
            return
        self.anchors.parent.mkdir(parents=True, exist_ok=True)
        with self.anchors.open("a", encoding="ascii") as fh:
            fh.write(checkpoint.to_json() + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def verify(self) -> ChainReport:
        """Check the chain against the database's checkpoints and the anchors file."""
        checkpoints = list(self.store.checkpoints())
        if self.anchors is not None and self.anchors.exists():
            checkpoints += dump_checkpoints(self.anchors.read_text(encoding="ascii").splitlines())
        return verify(
            self.store.chain(),
            checkpoints,
            key=self.key,
            unsealed=self.store.unsealed(1_000_000),
        )
