"""The evidence sealer: links new delivery events into the chain, then timestamps the head once.

One process across the nodes seals (a :class:`hub.scheduling.Leader` named
``evidence-sealer``); a racing second sealer loses cleanly (``evidence.raced``). Each round
(:meth:`EvidenceSealer.seal_once`) links every event not sealed yet (up to
:attr:`EvidencePolicy.max_per_round`) and then asks the TSA for ONE timestamp over the new
head — never one per message: the cost of the TSA is per round, whatever the traffic.

The sealer runs apart from intake and dispatch, so a slow or dead TSA never slows delivery.
When the TSA fails, the links are kept and the round ends; the next round that reaches the TSA
stamps the head then, covering every event sealed meanwhile. A failure that lasts longer than
:attr:`EvidencePolicy.max_outage_s` is raised once as an alert: an error log line and a
``lienthong.security`` JSON event (``evidence.tsa_outage``); :meth:`EvidenceSealer.status`
reports it for health views. Recovery is logged and clears it.

Health across processes (:func:`evidence_health`). The sealer runs in one worker process while
``/readyz`` and ``/metrics`` are answered by the API processes, so health is read from the
store, which every process shares, not from a sealer's memory: the oldest event not sealed yet
(older than :attr:`EvidencePolicy.max_lag_s`: the sealer lags or stopped) and the chain rows
not covered by a timestamp (waiting longer than :attr:`EvidencePolicy.max_outage_s`: the TSA
has been unreachable past its tolerated period). Either makes the hub *degraded*, never
unready: delivery does not depend on the evidence chain.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hub.audit_chain import ChainReport, SealedRow, link, verify
from hub.errors import Conflict, HubError
from hub.evidence import (
    Batch,
    EvidenceEvent,
    EvidencePolicy,
    EvidenceStore,
    Timestamper,
    chain_canon,
)
from hub.ports import Clock
from hub.security import emit

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EvidenceHealth:
    """The evidence chain's health as the store shows it (see the module docstring)."""

    unsealed_age_s: float | None
    """Age of the oldest event not sealed yet (``None``: everything is sealed)."""
    unstamped_events: int
    """Chain rows after the last timestamped head (0 when no TSA is configured)."""
    unstamped_age_s: float | None
    """How long the TSA has owed a timestamp: since the later of the last timestamped batch and
    the first unstamped row's event (``None``: nothing owed, or no TSA)."""
    problems: tuple[str, ...] = ()
    """Why the chain is degraded, one sentence each (empty: healthy)."""

    @property
    def degraded(self) -> bool:
        return bool(self.problems)

    def view(self) -> dict[str, Any]:
        """As JSON (``/readyz``)."""
        return {
            "degraded": self.degraded,
            "problems": list(self.problems),
            "unsealed_age_s": _rounded(self.unsealed_age_s),
            "unstamped_events": self.unstamped_events,
            "unstamped_age_s": _rounded(self.unstamped_age_s),
        }


def _rounded(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def evidence_health(
    store: EvidenceStore,
    now: dt.datetime,
    policy: EvidencePolicy,
    *,
    timestamped: bool,
    interval_s: float = 0.0,
) -> EvidenceHealth:
    """Read the chain's health from ``store`` at ``now``.

    ``timestamped``: a TSA is configured (otherwise unstamped rows are normal); ``interval_s``:
    the time between sealing rounds, added to both limits as the slack of one round.
    """
    problems: list[str] = []
    oldest = store.unsealed(1)
    unsealed_age = (now - oldest[0].at).total_seconds() if oldest else None
    if unsealed_age is not None and unsealed_age > policy.max_lag_s + interval_s:
        problems.append(
            f"the evidence sealer lags: an event has waited {unsealed_age:.0f} s to be sealed "
            f"(tolerated {policy.max_lag_s:.0f} s)"
        )
    unstamped, owed_age = 0, None
    if timestamped:
        last = store.last_batch()
        stamped = last.to_seq if last is not None else 0
        seq, _ = store.head()
        unstamped = max(seq - stamped, 0)
        first = next(iter(store.chain(stamped + 1, stamped + 1)), None) if unstamped else None
        if first is not None:
            owed_since = first.row.at if last is None else max(last.at, first.row.at)
            owed_age = (now - owed_since).total_seconds()
            if owed_age > policy.max_outage_s + interval_s:
                problems.append(
                    f"the TSA has not timestamped the evidence chain for {owed_age:.0f} s "
                    f"({unstamped} events waiting; tolerated {policy.max_outage_s:.0f} s)"
                )
    return EvidenceHealth(unsealed_age, unstamped, owed_age, tuple(problems))


@dataclass
class EvidenceSealer:
    """Seals and timestamps each round (:meth:`seal_once`); checks the chain (:meth:`verify`)."""

    store: EvidenceStore
    clock: Clock
    timestamper: Timestamper | None
    policy: EvidencePolicy = field(default_factory=EvidencePolicy)
    tsa_name: str = "-"
    """How the TSA is named in log lines (its URL; never a credential)."""
    failing_since: dt.datetime | None = None
    """When the TSA first failed in the current outage (``None``: no outage)."""
    alerted: bool = False
    last_error: str | None = None
    interval_s: float = 0.0
    """Seconds between the rounds that call :meth:`seal_once` (health allows one round late)."""

    def seal_once(self) -> int:
        """Link what is new, then timestamp the head if it moved; return the events linked."""
        total = 0
        while total < self.policy.max_per_round:
            want = min(self.policy.batch, self.policy.max_per_round - total)
            events = self.store.unsealed(want)
            if not events:
                break
            seq, digest = self.store.head()
            sealed = link(events, seq, digest, chain_canon)
            try:
                self.store.seal(sealed)
            except Conflict as exc:
                if exc.code != "evidence.raced":
                    raise
                log.info("evidence sealer: another process sealed first")
                return total
            total += len(sealed)
            if len(events) < want:
                break  # all there was: what arrives meanwhile is the next round's
        self._stamp()
        return total

    def _stamp(self) -> None:
        if self.timestamper is None:
            return
        last = self.store.last_batch()
        stamped = last.to_seq if last is not None else 0
        seq, head = self.store.head()
        if seq <= stamped:
            return
        try:
            token = self.timestamper.stamp(bytes.fromhex(head))
        except HubError as exc:
            self._failed(exc)
            return
        try:
            self.store.add_batch(Batch(stamped + 1, seq, head, token, self.clock.now()))
        except Conflict as exc:
            if exc.code != "evidence.raced":
                raise
            log.info("evidence sealer: another process timestamped this head first")
            return
        log.info("evidence batch %d..%d timestamped (head %s)", stamped + 1, seq, head[:16])
        self._recovered()

    def _failed(self, exc: HubError) -> None:
        now = self.clock.now()
        self.last_error = exc.code
        if self.failing_since is None:
            self.failing_since = now
            log.warning(
                "evidence: the TSA %s failed (%s); sealing goes on", self.tsa_name, exc.code
            )
        down_s = (now - self.failing_since).total_seconds()
        if down_s >= self.policy.max_outage_s and not self.alerted:
            self.alerted = True
            log.error(
                "evidence: the TSA %s has failed for %.0f s (limit %.0f s): delivery events are "
                "sealed but not timestamped",
                self.tsa_name,
                down_s,
                self.policy.max_outage_s,
            )
            emit(
                "evidence.tsa_outage",
                "monitoring",
                level=logging.ERROR,
                tsa=self.tsa_name,
                since=self.failing_since.isoformat(),
                down_s=round(down_s),
                code=exc.code,
            )

    def _recovered(self) -> None:
        if self.failing_since is not None:
            log.warning("evidence: the TSA %s answers again", self.tsa_name)
        self.failing_since, self.alerted, self.last_error = None, False, None

    def health(self) -> EvidenceHealth:
        """:func:`evidence_health` of this sealer's store, policy and TSA."""
        return evidence_health(
            self.store,
            self.clock.now(),
            self.policy,
            timestamped=self.timestamper is not None,
            interval_s=self.interval_s,
        )

    def status(self) -> dict[str, Any]:
        """Health details: ``ok`` false while an outage is past its tolerated period."""
        return {
            "ok": not self.alerted,
            "tsa_failing_since": self.failing_since.isoformat() if self.failing_since else None,
            "last_error": self.last_error,
        }

    def verify(self) -> ChainReport:
        """Walk the whole chain, and check that every timestamped head is still in it: a chain
        rewritten and re-linked in the database holds link by link, but its old heads, attested
        by the TSA, are gone (the tokens' own signatures are checked by the export's verify)."""
        heads = {b.to_seq: b.head_hash for b in self.store.batches()}
        seen: dict[int, str] = {}

        def walk() -> Iterator[SealedRow[EvidenceEvent]]:
            for row in self.store.chain():
                if row.seq in heads:
                    seen[row.seq] = row.hash
                yield row

        report = verify(
            walk(), (), key=None, unsealed=self.store.unsealed(1_000_000), canon=chain_canon
        )
        problems = [
            f"the timestamped head at chain row {seq} is not in the chain any more "
            "(rewritten after it was stamped)"
            for seq, digest in sorted(heads.items())
            if seen.get(seq, digest if report.broken else None) != digest
        ]
        return dataclasses.replace(report, problems=report.problems + tuple(problems))
