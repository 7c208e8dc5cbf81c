"""The agency seal as a service: the clerk's (văn thư) signature applied for a hosted system.

Nghị định 30/2020/NĐ-CP Art. 33 and Appendix I: an issued document carries the competent
person's signature first, then the agency's — the electronic seal — which the clerk applies
only to a document the person has already signed. :class:`SealService` is that clerk for the
systems a hub hosts: a system hands in a PDF on behalf of one of *its* agencies and receives the
PDF back with the agency signature appended as an incremental update, placed by
:mod:`signing.pdf_layout` (seal image over the left third of the person's signature, the agency
name and the signing time in +07:00), PAdES B-T when a timestamp authority is configured, B-B
otherwise.

Theory of operation, one request:

1. **Who may seal.** The caller (an authenticated system) must host the agency named; the
   ``hosts`` callable answers from the hub's store. At the console (:meth:`SealService.seal_as`)
   the page names the agencies its person may seal for (a clerk's own, an admin's all).
   Otherwise :class:`~hub.errors.Forbidden` (``seal.not_hosted``).
2. **Which key.** Each agency's key is configured (:class:`SealKeyConfig`: a ``file:`` or
   ``pkcs11:`` reference, its PIN read from an environment variable) and held by a
   :class:`SealKeyPool` — a few long-lived :class:`~signing.pdf_sign.PdfSigningService` per key,
   each with its own loaded key (so its own logged-in PKCS#11 session), lent to one request at
   a time. No token login happens per request.
3. **What may be sealed.** The PDF's signatures are verified (:class:`~signing.pdf_verify.
   PdfVerifier`): there must be a person's signature, the last of them must be intact, valid,
   unmodified since and trusted, its time earlier than now, and no agency signature may be
   present already. Each refusal is a :class:`~hub.errors.SealRefused` (or
   :class:`~hub.errors.Conflict` for "already sealed") naming the reason.
4. **Audit.** Every attempt, sealed or refused, is one audit row: the system, the agency, the
   SHA-256 of the PDF in and (when sealed) out, the person's certificate subject. Never the
   PDF, never a PIN.

The module is synchronous and CPU-bound (verification ≈ 8 ms per signature, signing a few ms):
an HTTP layer calls it from a worker thread. Thread-safe: a pool lends each signing service to
one thread at a time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import queue
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hub.errors import Conflict, Forbidden, HubError, KeyAccessError, NotFound, SealRefused
from hub.ports import AuditRow
from signing.keys import PIN_ENV, KeyRef, LoadedKey, load_key
from signing.nd30 import DocumentKind, SignerClass
from signing.pdf_layout import VIETNAM_TZ, SignatureRole
from signing.pdf_sign import PdfSigningService, SignRequest
from signing.pdf_verify import PdfSignatureVerdict, PdfVerdict, PdfVerifier

log = logging.getLogger(__name__)

#: The audit action of a sealing attempt.
AUDIT_ACTION = "pdf.seal"


@dataclass(frozen=True)
class SealKeyConfig:
    """One agency's seal key, as configured. Holds no secret: the PIN stays in the environment."""

    agency_code: str
    """The agency (QCVN 102 identifier code) the key seals for."""

    key_ref: str
    """``file:PATH`` (PKCS#12 / PEM) or an RFC 7512 ``pkcs11:`` URI (see :mod:`signing.keys`)."""

    agency_name: str | None = None
    """The name printed beside the seal; default: the certificate's organisation name."""

    seal_image: Path | None = None
    """PNG of the seal (transparent background); without it the seal is text alone."""

    pin_env: str = PIN_ENV
    """The environment variable holding the key's PIN or file password."""

    pool_size: int = 2
    """How many signing services (sessions) the key keeps open; requests beyond wait."""

    def __repr__(self) -> str:
        return (
            f"SealKeyConfig({self.agency_code!r}, {KeyRef.parse(self.key_ref).describe()!r}, "
            f"pin_env={self.pin_env!r}, pool_size={self.pool_size})"
        )


@dataclass(frozen=True)
class SealPolicy:
    """What the seal service demands of a PDF before sealing it. Safe defaults."""

    require_trusted_person: bool = True
    """The person's certificate must chain to a trust anchor and not be revoked; when
    ``False`` an untrusted (but intact and valid) person signature is sealed anyway."""

    max_clock_skew: dt.timedelta = dt.timedelta(seconds=0)
    """How far in the future a person's signing time may lie (clocks of signing stations)."""

    acquire_timeout_s: float = 30.0
    """How long a request waits for a free signing session of its agency's key."""


@dataclass(frozen=True)
class SealResult:
    """A sealed PDF and the facts the caller may show or log."""

    pdf: bytes = field(repr=False)
    agency_code: str
    sha256_in: str
    sha256_out: str
    level: str
    """``PAdES-B-T`` with a timestamp authority, ``PAdES-B-B`` without."""
    person: str | None
    """The person's certificate subject (RFC 4514), as verified."""
    sealed_at: dt.datetime


class _KeySlot:
    """The open signing services of one agency key, lent one request at a time."""

    def __init__(
        self, config: SealKeyConfig, build: Callable[[], PdfSigningService], size: int
    ) -> None:
        self.config = config
        self._build = build
        self._size = max(1, size)
        self._idle: queue.LifoQueue[PdfSigningService] = queue.LifoQueue()
        self._made: list[PdfSigningService] = []
        self._lock = threading.Lock()
        self._image: bytes | None = None

    def image(self) -> bytes | None:
        """The seal PNG, read once (a missing file is a configuration error, named)."""
        path = self.config.seal_image
        if path is None or self._image is not None:
            return self._image
        try:
            self._image = path.read_bytes()
        except OSError:
            raise KeyAccessError(
                f"cannot read the seal image of {self.config.agency_code}: {path}",
                message_vi=f"không đọc được ảnh con dấu của {self.config.agency_code}: {path}",
                code="seal.image",
            ) from None
        return self._image

    def acquire(self, timeout: float) -> PdfSigningService:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if len(self._made) < self._size:
                service = self._build()
                self._made.append(service)
                return service
        try:
            return self._idle.get(timeout=timeout)
        except queue.Empty:
            raise KeyAccessError(
                f"every signing session of the seal key of {self.config.agency_code} is busy",
                message_vi=f"mọi phiên ký của khóa con dấu {self.config.agency_code} đang bận",
                code="seal.key_busy",
            ) from None

    def release(self, service: PdfSigningService) -> None:
        self._idle.put(service)

    @property
    def opened(self) -> int:
        return len(self._made)


class SealKeyPool:
    """Agency code → a pool of signing services over that agency's key, opened on first use.

    ``loader`` loads one key (default :func:`signing.keys.load_key` with the PIN from the
    configured environment variable); ``timestamper`` (a pyHanko ``TimeStamper``) makes every
    seal PAdES B-T. Call :meth:`close` to log out of the tokens.
    """

    def __init__(
        self,
        configs: Collection[SealKeyConfig],
        *,
        timestamper: object | None = None,
        loader: Callable[[SealKeyConfig], LoadedKey] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._env = os.environ if env is None else env
        self._loader = loader or self._load
        self._timestamper = timestamper
        self._keys: list[LoadedKey] = []
        self._keys_lock = threading.Lock()
        self._slots = {
            c.agency_code.casefold(): _KeySlot(c, self._builder(c), c.pool_size) for c in configs
        }

    def _load(self, config: SealKeyConfig) -> LoadedKey:
        pin = self._env.get(config.pin_env) or None
        return load_key(config.key_ref, pin=pin, env={})

    def _builder(self, config: SealKeyConfig) -> Callable[[], PdfSigningService]:
        def build() -> PdfSigningService:
            key = self._loader(config)
            with self._keys_lock:
                self._keys.append(key)
            log.info("seal key opened: %s for %s", key.ref.describe(), config.agency_code)
            return PdfSigningService(key.pyhanko_signer(), timestamper=self._timestamper)  # type: ignore[arg-type]

        return build

    @property
    def timestamped(self) -> bool:
        return self._timestamper is not None

    def slot(self, agency_code: str) -> _KeySlot:
        """The key slot of ``agency_code``; :class:`NotFound` when no key is configured."""
        found = self._slots.get(agency_code.casefold())
        if found is None:
            raise NotFound(
                f"no seal key is configured for agency {agency_code}",
                message_vi=f"chưa cấu hình khóa con dấu cho cơ quan {agency_code}",
                code="seal.no_key",
            )
        return found

    def agencies(self) -> list[str]:
        return sorted(s.config.agency_code for s in self._slots.values())

    def opened(self) -> int:
        """How many signing sessions are open, over every key."""
        return sum(s.opened for s in self._slots.values())

    def close(self) -> None:
        with self._keys_lock:
            keys, self._keys = self._keys, []
        for key in keys:
            key.close()


def _refuse(reason: str, en: str, vi: str, **details: object) -> SealRefused:
    return SealRefused(en, message_vi=vi, code=f"seal.{reason}", details=dict(details))


class SealService:
    """Seals PDFs for the agencies of the calling system (see the module docstring).

    ``hosts(system_id)`` returns the agency codes a system hosts; ``audit`` appends one
    :class:`hub.ports.AuditRow` (in its own transaction); ``clock`` returns an aware UTC time.
    """

    def __init__(
        self,
        keys: SealKeyPool,
        verifier: PdfVerifier,
        *,
        hosts: Callable[[str], Collection[str]],
        audit: Callable[[AuditRow], None],
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        policy: SealPolicy | None = None,
    ) -> None:
        self.keys = keys
        self.verifier = verifier
        self._hosts = hosts
        self._audit = audit
        self._clock = clock
        self.policy = policy or SealPolicy()

    def seal(self, system_id: str, agency_code: str, pdf: bytes) -> SealResult:
        """Seal ``pdf`` for ``agency_code`` on behalf of ``system_id``; audit the attempt.

        Raises :class:`Forbidden` (agency not hosted by the caller), :class:`NotFound` (no key
        for the agency), :class:`SealRefused` (no / invalid / indeterminate / future person
        signature, unreadable PDF), :class:`Conflict` (already sealed), :class:`KeyAccessError`
        and :class:`~hub.errors.PeerUnavailable` (the TSA) from the signing itself.
        """
        return self._attempt(
            f"system:{system_id}", f"system {system_id}", agency_code, pdf, self._hosts(system_id)
        )

    def seal_as(
        self, actor: str, agency_code: str, pdf: bytes, *, agencies: Collection[str]
    ) -> SealResult:
        """:meth:`seal` for a person at the console (a clerk): ``agencies`` are those the
        person may seal for; the attempt is audited with ``actor``. Same refusals."""
        return self._attempt(actor, actor, agency_code, pdf, agencies)

    def _attempt(
        self, actor: str, who: str, agency_code: str, pdf: bytes, allowed: Collection[str]
    ) -> SealResult:
        sha_in = hashlib.sha256(pdf).hexdigest()
        now = self._clock()
        try:
            result = self._seal(who, agency_code, pdf, sha_in, now, allowed)
        except HubError as exc:
            self._record(actor, agency_code, now, exc.code, sha256_in=sha_in)
            raise
        self._record(
            actor,
            agency_code,
            now,
            "ok",
            sha256_in=sha_in,
            sha256_out=result.sha256_out,
            level=result.level,
            person=result.person,
        )
        return result

    def _seal(
        self,
        who: str,
        agency_code: str,
        pdf: bytes,
        sha_in: str,
        now: dt.datetime,
        allowed: Collection[str],
    ) -> SealResult:
        if agency_code.casefold() not in {c.casefold() for c in allowed}:
            raise Forbidden(
                f"{who} may not seal for agency {agency_code}: not one of its agencies",
                message_vi=f"{who} không được đóng dấu cho cơ quan {agency_code}: "
                "không phải cơ quan được giao",
                code="seal.not_hosted",
                details={"agency": agency_code},
            )
        slot = self.keys.slot(agency_code)
        verdict = self.verifier.verify(pdf, DocumentKind.ISSUED, sha256=sha_in)
        person = self._person_signature(verdict, now)
        signing = slot.acquire(self.policy.acquire_timeout_s)
        try:
            name = slot.config.agency_name or _organisation(signing)
            image = slot.image()
            sealed = signing.sign(
                pdf,
                SignRequest(role=SignatureRole.AGENCY, image=image, agency_name=name),
                now=now.astimezone(VIETNAM_TZ),
            )
        finally:
            slot.release(signing)
        return SealResult(
            pdf=sealed,
            agency_code=slot.config.agency_code,
            sha256_in=sha_in,
            sha256_out=hashlib.sha256(sealed).hexdigest(),
            level="PAdES-B-T" if self.keys.timestamped else "PAdES-B-B",
            person=person.signer.subject if person.signer else None,
            sealed_at=now,
        )

    def _person_signature(self, verdict: PdfVerdict, now: dt.datetime) -> PdfSignatureVerdict:
        """The person's signature the seal will cover, or the refusal that says why not."""
        if any(p.code == "pdf.unreadable" for p in verdict.problems):
            raise _refuse(
                "unreadable", "the file is not a readable PDF", "tệp không phải PDF đọc được"
            )
        if any(s.signer_class is SignerClass.AGENCY for s in verdict.signatures):
            raise Conflict(
                "the document already carries an agency signature",
                message_vi="văn bản đã có chữ ký số của cơ quan, tổ chức",
                code="seal.already_sealed",
            )
        persons = [s for s in verdict.signatures if s.signer_class is SignerClass.PERSON]
        if not persons:
            raise _refuse(
                "no_person_signature",
                "the document carries no signature of the competent person (Decree 30, Art. 33)",
                "văn bản chưa có chữ ký số của người có thẩm quyền (Nghị định 30, Điều 33)",
                signatures=len(verdict.signatures),
            )
        person = persons[-1]
        problems = [p.code for p in person.problems]
        if not (person.intact and person.valid) or person.modified_after_signing or person.revoked:
            raise _refuse(
                "person_signature_invalid",
                "the competent person's signature is invalid "
                f"({person.problem_en or ', '.join(problems) or 'altered'})",
                "chữ ký số của người có thẩm quyền không hợp lệ "
                f"({person.problem_vi or ', '.join(problems) or 'đã bị thay đổi'})",
                field=person.field_name,
                problems=problems,
            )
        if (
            self.policy.require_trusted_person and not person.trusted
        ) or person.timestamp_ok is False:
            status = person.trust.status.value if person.trust else "unchecked"
            raise _refuse(
                "person_signature_indeterminate",
                f"the competent person's signature cannot be trusted ({status})",
                f"chưa xác nhận được chữ ký số của người có thẩm quyền ({status})",
                field=person.field_name,
                trust=status,
            )
        when = person.best_time
        if when is None or when > now + self.policy.max_clock_skew:
            raise _refuse(
                "person_signature_time",
                "the competent person's signing time is missing or later than now",
                "thời gian ký của người có thẩm quyền không có hoặc muộn hơn hiện tại",
                field=person.field_name,
                signing_time=when.isoformat() if when else None,
            )
        return person

    def _record(
        self, actor: str, agency_code: str, at: dt.datetime, outcome: str, **details: object
    ) -> None:
        row = AuditRow(at, actor, AUDIT_ACTION, agency_code, outcome, details)
        log.info("seal %s for %s by %s: %s", details.get("sha256_in"), agency_code, actor, outcome)
        self._audit(row)


def _organisation(signing: PdfSigningService) -> str | None:
    """The organisation name of the signing certificate (``O``, else ``CN``)."""
    cert = signing.signer.signing_cert
    if cert is None:
        return None
    subject = cert.subject.native
    name = subject.get("organization_name") or subject.get("common_name")
    return str(name) if name else None
