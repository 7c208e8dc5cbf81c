"""The conformance script: the steps a vendor's connector goes through, and how each ends.

Sans-I/O (h11's way): :class:`Script` opens no socket and reads no clock. The runner
(:mod:`hub.entrypoints.conformance`) feeds it what it observed — :class:`Fetched`,
:class:`StatusArrived`, :class:`VendorEdoc`, :class:`Refused`, :class:`StatusesPulled` — and
the time, and performs the :class:`Action` values :meth:`Script.advance` hands back (send the
next document to the vendor, answer the vendor's document with statuses).

Theory of operation. Each :class:`StepSpec` names the steps it waits for (``after``); a step
starts when all of those have ended (passed, failed or timed out), performs its action, and
ends by an observation or by its time limit. Steps whose ``requires`` did not pass end as
failed without running ("not run: …"). When every behavioural step has ended, the protocol
checks (:mod:`hub.conformance.checks`) run over every request recorded, and the run is over.

The steps (QCVN 102:2016 §5 status codes; ``BussinessDocType`` 0–3):

* ``receive.*`` — the bench sends the vendor's agency a new document (a signed PDF and a second
  attachment, Vietnamese text), then an update, a revocation and a replacement of it; each
  passes when the vendor fetched it and acknowledged it (``updateStatus done``).
* ``status.*`` — the business statuses the vendor must send back: 01, 03 and 06 for the new
  document, 15 or 16 (agree / refuse) for the update and the revocation, 01 for the replacement.
* ``push.edoc`` — the vendor sends one document to the bench's agency; it passes when the hub
  accepted it (profile) and every PDF signature in it is intact and valid; a refused
  ``sendEdoc`` fails it, with that request.
* ``push.statuses`` — the bench answers that document with 01, 03, 06; passes when the vendor
  pulled and acknowledged all three.
* ``protocol.*`` — habits over every request: fresh timestamps (not the SDK's frozen one), UTF-8
  header values, a ``hash-file`` that matches the body, no authentication failure.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hub.conformance.checks import PROTOCOL_CHECKS, CheckResult, RecordedRequest


class Outcome(enum.StrEnum):
    """How a step stands."""

    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class Action:
    """Something the runner must do when a step starts."""

    kind: str
    """``send`` (a document to the vendor: ``ref`` names it) or ``answer`` (statuses for the
    vendor's document)."""
    ref: str = ""


@dataclass(frozen=True)
class StepSpec:
    """One step: its id, its title, what it waits for and what it does on start."""

    id: str
    title_vi: str
    title_en: str
    after: tuple[str, ...] = ()
    """Steps that must have ended before this one starts."""
    requires: tuple[str, ...] = ()
    """Steps that must have *passed*; otherwise this one fails without running."""
    action: Action | None = None
    ref: str = ""
    """The bench document (``new``, ``update``…) or ``vendor`` the step is about."""
    codes: frozenset[str] = frozenset()
    """For status steps: any one of these codes passes."""


# -- observations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    """The vendor fetched and acknowledged (``done``) the bench document ``ref``."""

    ref: str


@dataclass(frozen=True)
class StatusArrived:
    """A status package from the vendor about the bench document ``ref``."""

    ref: str
    code: str
    request: RecordedRequest | None


@dataclass(frozen=True)
class VendorEdoc:
    """A document from the vendor reached the bench's agency; ``problems`` from its checks."""

    problems: tuple[str, ...]
    request: RecordedRequest | None


@dataclass(frozen=True)
class Refused:
    """The hub refused one of the vendor's requests (HTTP status ≥ 400 or a FAIL reply)."""

    request: RecordedRequest


@dataclass(frozen=True)
class StatusesPulled:
    """The vendor has acknowledged ``count`` of the bench's statuses about its document."""

    count: int


Observation = Fetched | StatusArrived | VendorEdoc | Refused | StatusesPulled

#: The bench's answer to the vendor's document (QCVN 102 §5).
ANSWER_CODES = ("01", "03", "06")


def _status(ref: str, code: str, after: tuple[str, ...], label_vi: str, label_en: str) -> StepSpec:
    codes = frozenset(code.split("|"))
    shown = " hoặc ".join(sorted(codes))
    return StepSpec(
        f"status.{ref}.{code.replace('|', '_')}",
        f"Gửi trạng thái {shown} cho văn bản {label_vi}",
        f"Send status {' or '.join(sorted(codes))} for the {label_en} document",
        after=after,
        ref=ref,
        codes=codes,
    )


def default_steps() -> tuple[StepSpec, ...]:
    """The whole cycle, in the order the module docstring gives."""
    new, upd, rev = ("receive.new",), ("receive.update",), ("receive.revoke",)
    return (
        StepSpec(
            "receive.new",
            "Nhận văn bản mới (PDF đã ký, nhiều tệp đính kèm, tiếng Việt)",
            "Receive a new document (signed PDF, several attachments, Vietnamese text)",
            action=Action("send", "new"),
            ref="new",
        ),
        _status("new", "01", (), "mới", "new"),
        _status("new", "03", (), "mới", "new"),
        _status("new", "06", (), "mới", "new"),
        StepSpec(
            "receive.update",
            "Nhận văn bản cập nhật (không có PDF ký)",
            "Receive an update (no signed PDF)",
            after=new,
            action=Action("send", "update"),
            ref="update",
        ),
        _status("update", "15|16", new, "cập nhật", "update"),
        StepSpec(
            "receive.revoke",
            "Nhận yêu cầu thu hồi",
            "Receive a revocation",
            after=upd,
            action=Action("send", "revoke"),
            ref="revoke",
        ),
        _status("revoke", "15|16", upd, "thu hồi", "revocation"),
        StepSpec(
            "receive.replace",
            "Nhận văn bản thay thế (PDF đã ký)",
            "Receive a replacement (signed PDF)",
            after=rev,
            action=Action("send", "replace"),
            ref="replace",
        ),
        _status("replace", "01", rev, "thay thế", "replacement"),
        StepSpec(
            "push.edoc",
            "Gửi một văn bản tới cơ quan của bộ kiểm thử",
            "Send one document to the bench's agency",
            ref="vendor",
        ),
        StepSpec(
            "push.statuses",
            "Nhận các trạng thái 01, 03, 06 cho văn bản đã gửi",
            "Pull statuses 01, 03, 06 for the document sent",
            after=("push.edoc",),
            requires=("push.edoc",),
            action=Action("answer", "vendor"),
            ref="vendor",
        ),
    )


def _waited_for(spec: StepSpec, limit: dt.timedelta) -> tuple[str, str]:
    """What a timed-out step was waiting for, in Vietnamese and English."""
    n = f"{limit.total_seconds():g}"
    if spec.codes:
        codes = " / ".join(sorted(spec.codes))
        return (
            f"không nhận được trạng thái {codes} trong {n} giây",
            f"no status {codes} arrived within {n} s",
        )
    if spec.id.startswith("receive."):
        return (
            f"văn bản không được lấy về và xác nhận (updateStatus done) trong {n} giây",
            f"the document was not fetched and acknowledged (updateStatus done) within {n} s",
        )
    if spec.id == "push.edoc":
        return (
            f"không có văn bản nào được gửi tới cơ quan của bộ kiểm thử trong {n} giây",
            f"no document reached the bench's agency within {n} s",
        )
    return (
        f"các trạng thái chưa được lấy về và xác nhận trong {n} giây",
        f"the statuses were not pulled and acknowledged within {n} s",
    )


@dataclass
class StepState:
    """A step's progress and, once ended, why."""

    spec: StepSpec
    outcome: Outcome = Outcome.PENDING
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    reason_vi: str = ""
    reason_en: str = ""
    request: RecordedRequest | None = None
    """The request that failed the step, or the last one that concerned it."""

    @property
    def ended(self) -> bool:
        return self.outcome in (Outcome.PASSED, Outcome.FAILED, Outcome.TIMED_OUT)

    def end(self, outcome: Outcome, now: dt.datetime, vi: str = "", en: str = "") -> None:
        self.outcome, self.ended_at, self.reason_vi, self.reason_en = outcome, now, vi, en

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.spec.id,
            "title_vi": self.spec.title_vi,
            "title_en": self.spec.title_en,
            "outcome": self.outcome.value,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "reason_vi": self.reason_vi,
            "reason_en": self.reason_en,
            "request": self.request.to_dict() if self.request else None,
        }


@dataclass
class Script:
    """The state of one conformance run (see the module docstring). ``limit`` is each step's
    time limit."""

    limit: dt.timedelta
    steps: list[StepState] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    protocol_checks: Sequence[Callable[[Sequence[RecordedRequest]], CheckResult]] = PROTOCOL_CHECKS
    _by_id: dict[str, StepState] = field(default_factory=dict)

    @classmethod
    def build(cls, limit: dt.timedelta, specs: Sequence[StepSpec] | None = None) -> Script:
        script = cls(limit)
        script.steps = [StepState(s) for s in (specs or default_steps())]
        script._by_id = {s.spec.id: s for s in script.steps}
        return script

    def step(self, step_id: str) -> StepState:
        return self._by_id[step_id]

    @property
    def behaviour_done(self) -> bool:
        return all(s.ended for s in self.steps)

    @property
    def done(self) -> bool:
        return self.behaviour_done and bool(self.checks)

    def advance(self, now: dt.datetime) -> list[Action]:
        """Start what can start, time out what ran too long; the actions to perform now."""
        actions: list[Action] = []
        for s in self.steps:
            if s.outcome is Outcome.RUNNING and s.started_at and now - s.started_at > self.limit:
                s.end(Outcome.TIMED_OUT, now, *_waited_for(s.spec, self.limit))
        progressed = True
        while progressed:
            progressed = False
            for s in self.steps:
                if s.outcome is not Outcome.PENDING:
                    continue
                if not all(self._by_id[a].ended for a in s.spec.after):
                    continue
                missing = [r for r in s.spec.requires if self._by_id[r].outcome != Outcome.PASSED]
                s.started_at = now
                if missing:
                    s.end(
                        Outcome.FAILED,
                        now,
                        f"không chạy: bước {', '.join(missing)} chưa đạt",
                        f"not run: {', '.join(missing)} did not pass",
                    )
                    progressed = True
                    continue
                s.outcome = Outcome.RUNNING
                if s.spec.action is not None:
                    actions.append(s.spec.action)
        return actions

    def observe(self, event: Observation, now: dt.datetime) -> None:
        """Apply one observation to the running steps it concerns."""
        running = [s for s in self.steps if s.outcome is Outcome.RUNNING]
        if isinstance(event, Fetched):
            for s in running:
                if s.spec.id == f"receive.{event.ref}":
                    s.end(Outcome.PASSED, now)
        elif isinstance(event, StatusArrived):
            for s in running:
                if s.spec.codes and s.spec.ref == event.ref:
                    s.request = event.request or s.request
                    if event.code in s.spec.codes:
                        s.end(Outcome.PASSED, now)
        elif isinstance(event, VendorEdoc):
            step = self._by_id.get("push.edoc")
            if step is not None and step.outcome is Outcome.RUNNING:
                step.request = event.request
                if event.problems:
                    step.end(
                        Outcome.FAILED,
                        now,
                        "văn bản nhận được có lỗi: " + "; ".join(event.problems),
                        "the document received has problems: " + "; ".join(event.problems),
                    )
                else:
                    step.end(Outcome.PASSED, now)
        elif isinstance(event, Refused):
            self._refused(event.request, now)
        elif isinstance(event, StatusesPulled):
            step = self._by_id.get("push.statuses")
            if (
                step is not None
                and step.outcome is Outcome.RUNNING
                and event.count >= len(ANSWER_CODES)
            ):
                step.end(Outcome.PASSED, now)

    def _refused(self, request: RecordedRequest, now: dt.datetime) -> None:
        # A refused push of an edoc fails push.edoc; a refused status push is kept as the
        # request of the status steps still waiting (their time-out then quotes it).
        if request.operation != "sendEdoc":
            return
        kind = request.param("messagetype") or "edoc"
        if kind == "status":
            for s in self.steps:
                if s.outcome is Outcome.RUNNING and s.spec.codes:
                    s.request = request
            return
        step = self._by_id.get("push.edoc")
        if step is not None and step.outcome is Outcome.RUNNING:
            step.request = request
            step.end(
                Outcome.FAILED,
                now,
                f"trục từ chối sendEdoc (HTTP {request.status}): {request.error_desc}",
                f"the hub refused sendEdoc (HTTP {request.status}): {request.error_desc}",
            )

    def finish(self, requests: Sequence[RecordedRequest]) -> None:
        """Run the protocol checks over every recorded request (once every step has ended)."""
        if not requests:
            # Nothing to judge is not a pass: the connector never reached the bench.
            self.checks = [
                replace(
                    check(requests),
                    passed=False,
                    reason_vi="bộ kiểm thử không nhận được yêu cầu nào từ phần mềm",
                    reason_en="no request from the connector reached the bench",
                )
                for check in self.protocol_checks
            ]
            return
        self.checks = [check(requests) for check in self.protocol_checks]

    @property
    def passed(self) -> bool:
        return all(s.outcome is Outcome.PASSED for s in self.steps) and all(
            c.passed for c in self.checks
        )
