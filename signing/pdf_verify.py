"""Verify the signatures inside PDFs (PAdES / ISO 32000-1 §12.8 CMS signatures).

Contract: :meth:`PdfVerifier.verify` takes PDF bytes and returns a frozen ``PdfVerdict`` — one
``PdfSignatureVerdict`` per signature, oldest first, the Nghị định 30 presence warnings, an
outcome and a ``bottom_line`` (the values live in :mod:`signing.pdf_verdicts`). It never raises
for a bad PDF or a bad signature: an unreadable file is a verdict with problem
``pdf.unreadable``. :meth:`PdfVerifier.verify_package` does the
same for every PDF attachment of an edXML package.

Per signature the verdict states separately:

* **intact** — the ``/ByteRange`` digest matches the CMS ``messageDigest``;
* **valid** — the CMS signature value checks out under the signer certificate, which the
  ``signing-certificate(-v2)`` attribute binds (RFC 5035), with an accepted digest algorithm;
* **trusted** — the signer certificate chains to a configured anchor, is in its validity period
  and not revoked: decided by :class:`signing.trust.TrustEvaluator`, the same authority (and the
  same per-certificate cache) the envelope signatures use;
* **timing** — the signer's claimed signing time, and the RFC 3161 signature timestamp when
  present (PAdES B-T), itself checked for integrity and trust. A good timestamp is a proof of
  existence: a signer certificate that has expired since is judged at the timestamp's time
  (:mod:`signing.poe`, ETSI EN 319 102-1 §5.5), not today;
* **coverage** — what was signed. A later signature or form filling is a legitimate change
  after signing; anything else (new page content, replaced objects, the "shadow" and incremental
  update attacks of Mladenov et al. 2019 / Mainka et al. 2021) sets ``modified_after_signing``.
  The difference analysis is pyHanko's (``DEFAULT_DIFF_POLICY``).

From these facts each signature gets its :class:`~signing.verdicts.Outcome` once, in
:meth:`PdfVerifier._one`: *invalid* for proof of a problem (``HASH_FAILURE`` when the signed
bytes or the timestamp token changed, ``SIG_CRYPTO_FAILURE``, ``FORMAT_FAILURE`` for changes
after signing or an unreadable structure, ``REVOKED``), *indeterminate* when something needed
to decide is missing (no certificate, no chain, revocation data unreachable, expired without a
timestamp, a refused digest algorithm), else *valid*. ``bottom_line`` is "the outcome is
valid"; a PDF's outcome aggregates its signatures' (:func:`signing.verdicts.combine`).

Performance (PERFORMANCE.md): validating one PDF signature costs ≈ 8 ms. Verdicts are cached
by the PDF's SHA-256 and the document kind for :attr:`PdfVerifyPolicy.cache_ttl`, so a PDF sent
to twenty recipients is verified once; the trust decision per certificate is cached by the
trust evaluator. Keep one verifier per (trust store, policy) alive for the process.
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils import generic as pdf_generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, DiffResult, ModificationLevel
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation import generic_cms
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError, SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel, TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from signing import loop
from signing.nd30 import (
    DEFAULT_SIGNER_CLASS_RULE,
    DocumentKind,
    SignatureFacts,
    SignerClass,
    SignerClassRule,
    classify_signer,
    presence_warnings,
)
from signing.pdf_verdicts import (
    UNREADABLE,
    UNSIGNED,
    PdfSignatureVerdict,
    PdfVerdict,
    Problem,
)
from signing.poe import PastTrust
from signing.trust import TrustEvaluator
from signing.verdicts import (
    VALID,
    Outcome,
    SignerIdentity,
    SubIndication,
    Trust,
    combine,
    outcome_of,
    trust_outcome,
)

if TYPE_CHECKING:
    from hub.edxml.attachments import ExtractedAttachment
    from hub.edxml.reader import ParsedPackage
    from hub.edxml.source import Package

__all__ = [
    "DEFAULT_PDF_VERIFY_POLICY",
    "SECURE_DIGESTS",
    "PdfSignatureVerdict",
    "PdfVerdict",
    "PdfVerifier",
    "PdfVerifyPolicy",
    "Problem",
    "install_fast_hex_reader",
]

_T = TypeVar("_T")

#: Digest algorithms accepted by default: SHA-2 and SHA-3 (SHA-1 is broken for signatures;
#: ETSI TS 119 312 no longer lists it for new signatures).
SECURE_DIGESTS = frozenset(
    {"sha224", "sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512"}
)


@dataclass(frozen=True)
class PdfVerifyPolicy:
    """What a PDF signature must satisfy, and how long a verdict is reused. Safe defaults."""

    signer_class_rule: SignerClassRule = DEFAULT_SIGNER_CLASS_RULE
    """How a certificate is classified as a person's or an agency's (Nghị định 30)."""

    accepted_digests: frozenset[str] = SECURE_DIGESTS
    """Digest algorithms (pyHanko/asn1crypto names) a valid signature may use."""

    tolerated_modification: ModificationLevel = ModificationLevel.FORM_FILLING
    """The most a document may change after a signature without being flagged: later
    signatures and form filling (ISO 32000-1 §12.8.2.2 FieldMDP "fill in forms")."""

    cache_ttl: timedelta = timedelta(minutes=10)
    """How long a verdict is reused for the same bytes (revocation may change meanwhile)."""

    cache_size: int = 512
    """How many verdicts are kept (least recently used ones go first)."""


DEFAULT_PDF_VERIFY_POLICY = PdfVerifyPolicy()


# -- a faster hex-string reader for pyHanko ------------------------------------------------------
#
# pyHanko 0.38 reads PDF hex strings one character at a time in Python. A signature's
# ``/Contents`` is a hex string of 6–30 thousand characters, read again for every revision the
# difference analysis looks at: that loop was two thirds of the verification time of a signed
# 200 KB PDF (bench/RESULTS-signing-pdf.md). The replacement below reads up to the closing ``>``
# in one call and decodes with ``binascii``; whenever the text is not plain hex and whitespace
# (a comment, a stray byte) it rewinds and defers to pyHanko's own reader, so the results and
# errors are pyHanko's.

_HEX_OK = re.compile(rb"[0-9A-Fa-f]*")
_PDF_WHITESPACE = b"\x00\t\n\x0c\r "


def _fast_read_hex_string(stream: Any) -> Any:
    start = stream.tell()
    stream.read(1)  # the opening "<"
    chunks = []
    end = -1
    while True:
        chunk = stream.read(16384)
        if not chunk:
            break
        end = chunk.find(b">")
        if end >= 0:
            chunks.append(chunk[:end])
            break
        chunks.append(chunk)
    raw = b"".join(chunks)
    digits = raw.translate(None, _PDF_WHITESPACE)
    if end < 0 or not _HEX_OK.fullmatch(digits):
        stream.seek(start)
        return _ORIGINAL_READ_HEX(stream)
    stream.seek(start + 1 + len(raw) + 1)
    if len(digits) % 2:
        digits += b"0"
    return pdf_generic.pdf_string(binascii.unhexlify(digits))


_ORIGINAL_READ_HEX = pdf_generic.read_hex_string_from_stream


def install_fast_hex_reader() -> None:
    """Replace pyHanko's hex-string reader with :func:`_fast_read_hex_string` (idempotent).

    Process-wide: every pyHanko reader benefits, signing included. Called by
    :class:`PdfVerifier`; equivalence with pyHanko's reader is tested.
    """
    pdf_generic.read_hex_string_from_stream = _fast_read_hex_string


_ORIGINAL_NAME_PREP = asn1_x509.NameTypeAndValue._ldap_string_prep


@functools.lru_cache(maxsize=4096)
def _name_prep(value: str) -> str:
    return str(_ORIGINAL_NAME_PREP(None, value))


def _cached_name_prep(self: asn1_x509.NameTypeAndValue, value: object) -> object:
    # asn1crypto's RFC 4518 preparation reads nothing of ``self``: a pure function of the text.
    if isinstance(value, str):
        return _name_prep(value)
    return _ORIGINAL_NAME_PREP(self, value)


def install_name_prep_cache() -> None:
    """Memoise asn1crypto's string preparation of distinguished-name values (idempotent).

    Finding a signature's certificate compares issuer names (RFC 5280 §7.1: after RFC 4518
    preparation, character by character through ``stringprep``); asn1crypto caches the result
    per parsed value only, and every PDF brings freshly parsed certificates, so the same few
    Vietnamese names were prepared again on every verification — a fifth of its CPU.
    Process-wide, like :func:`install_fast_hex_reader`; equivalence is tested.
    """
    asn1_x509.NameTypeAndValue._ldap_string_prep = _cached_name_prep


_UNREADABLE = Problem("pdf.unreadable", "Tệp PDF không đọc được", "the PDF cannot be read")
#: Hostile input: pyhanko reads the end of a file backwards one byte per call, a whole line at a
#: time. On a "PDF" without line breaks (a ZIP bomb of NULs behind ``%PDF-``) that scanned the
#: whole file: 4 s for 1 MiB, 55 s for 5 MiB, from a package of 11 KB. So the trailer
#: (``startxref <offset> %%EOF``, which pyhanko needs within the last KiB anyway) is looked for
#: first, and a file of up to :data:`_IN_MEMORY_MAX` is read from memory, where a byte-sized
#: read costs a function call rather than a spooled-file round trip.
_TRAILER = re.compile(rb"startxref\s*\d+\s*%%EOF")
_TRAILER_WINDOW = 2048
_NO_TRAILER = "no 'startxref … %%EOF' trailer in the last 2 KiB"
_IN_MEMORY_MAX = 64 * 1024 * 1024


def _has_trailer(stream: IO[bytes], size: int) -> bool:
    """Whether the last :data:`_TRAILER_WINDOW` bytes hold a PDF trailer (``stream`` rewound)."""
    stream.seek(max(0, size - _TRAILER_WINDOW))
    tail = stream.read(_TRAILER_WINDOW)
    stream.seek(0)
    return _TRAILER.search(tail) is not None


_UNSIGNED = Problem("pdf.unsigned", "Tệp PDF không có chữ ký số", "the PDF carries no signature")


def _to_crypto(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())


_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire_file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire_revision",
}


class PdfVerifier:
    """Verifies PDF signatures against one trust evaluator and one policy; caches verdicts.

    ``timestamp_anchors`` adds trust anchors for RFC 3161 timestamp authorities (the
    evaluator's anchors are trusted for timestamps too). Thread-safe.
    """

    def __init__(
        self,
        trust: TrustEvaluator,
        policy: PdfVerifyPolicy = DEFAULT_PDF_VERIFY_POLICY,
        *,
        timestamp_anchors: Sequence[x509.Certificate] = (),
    ) -> None:
        install_fast_hex_reader()
        install_name_prep_cache()
        self.trust = trust
        self.policy = policy
        self._ts_roots = [
            asn1_x509.Certificate.load(c.public_bytes(Encoding.DER))
            for c in (*trust.store.anchors, *timestamp_anchors)
        ]
        self._ts_others = [
            asn1_x509.Certificate.load(c.public_bytes(Encoding.DER))
            for c in trust.store.intermediates
        ]
        self._past = PastTrust(trust)
        self._cache: OrderedDict[tuple[str, DocumentKind], tuple[float, PdfVerdict]] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()

    def _ts_context(self) -> ValidationContext:
        """The timestamp validation context of this thread, kept so that TSA chains are built
        once (pyHanko contexts cache their paths); no fetching, so no event-loop resources."""
        ctx: ValidationContext | None = getattr(self._local, "ts_context", None)
        if ctx is None:
            ctx = ValidationContext(
                trust_roots=self._ts_roots, other_certs=self._ts_others, allow_fetching=False
            )
            self._local.ts_context = ctx
        return ctx

    # -- the cache -----------------------------------------------------------------------

    def cached(self, sha256: str, kind: DocumentKind) -> PdfVerdict | None:
        """The cached verdict for the PDF with digest ``sha256``, if still fresh."""
        with self._lock:
            hit = self._cache.get((sha256, kind))
            if hit is None:
                return None
            if time.monotonic() >= hit[0]:
                del self._cache[(sha256, kind)]
                return None
            self._cache.move_to_end((sha256, kind))
            return hit[1]

    def _remember(self, verdict: PdfVerdict) -> None:
        with self._lock:
            key = (verdict.sha256, verdict.kind)
            self._cache[key] = (time.monotonic() + self.policy.cache_ttl.total_seconds(), verdict)
            self._cache.move_to_end(key)
            while len(self._cache) > self.policy.cache_size:
                self._cache.popitem(last=False)

    def clear(self) -> None:
        """Forget every cached verdict."""
        with self._lock:
            self._cache.clear()

    # -- verification --------------------------------------------------------------------

    def verify(
        self,
        pdf: bytes | IO[bytes],
        kind: DocumentKind = DocumentKind.ISSUED,
        *,
        name: str | None = None,
        sha256: str | None = None,
    ) -> PdfVerdict:
        """The verdict on ``pdf`` (bytes or a seekable binary file), from the cache when fresh.

        ``sha256`` may be given when the caller already knows the digest (attachments do).
        Runs the calling thread's own event loop (:func:`_thread_runner`): from a coroutine,
        await :meth:`async_verify` instead.
        """
        return loop.run(self.async_verify(pdf, kind, name=name, sha256=sha256))

    async def async_verify(
        self,
        pdf: bytes | IO[bytes],
        kind: DocumentKind = DocumentKind.ISSUED,
        *,
        name: str | None = None,
        sha256: str | None = None,
    ) -> PdfVerdict:
        """:meth:`verify` for callers inside an event loop. CPU-bound (≈ 7 ms per signature):
        a server should run it in a worker thread or process rather than on its loop."""
        stream: IO[bytes] = BytesIO(pdf) if isinstance(pdf, bytes | bytearray) else pdf
        if sha256 is None:
            stream.seek(0)
            digest = hashlib.sha256()
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
            sha256 = digest.hexdigest()
        hit = self.cached(sha256, kind)
        if hit is not None:
            return hit if hit.name == name else _renamed(hit, name)
        stream.seek(0, 2)
        size = stream.tell()
        stream.seek(0)
        verdict = await self._verify_stream(stream, kind, sha256, size, name)
        self._remember(verdict)
        return verdict

    async def _verify_stream(
        self, stream: IO[bytes], kind: DocumentKind, sha256: str, size: int, name: str | None
    ) -> PdfVerdict:
        def fail(problem: Problem) -> PdfVerdict:
            return PdfVerdict(sha256, size, kind, (), (), (problem,), name)

        if not _has_trailer(stream, size):
            return fail(_with_detail(_UNREADABLE, ValueError(_NO_TRAILER)))
        if size <= _IN_MEMORY_MAX and not isinstance(stream, BytesIO):
            stream.seek(0)
            stream = BytesIO(stream.read())
        try:
            reader = PdfFileReader(stream, strict=False)
            embedded = list(reader.embedded_regular_signatures)
        except Exception as exc:  # hostile input: any parser failure is a verdict
            return fail(_with_detail(UNREADABLE, exc))
        if not embedded:
            return fail(UNSIGNED)
        ts_context = self._ts_context()
        verdicts = [await self._guarded(sig, ts_context) for sig in embedded]
        verdicts.sort(key=lambda v: v.revision)
        facts = [
            SignatureFacts(v.signer_class, v.best_time)
            for v in verdicts
            if v.intact and v.valid and v.trusted
        ]
        return PdfVerdict(
            sha256, size, kind, tuple(verdicts), presence_warnings(facts, kind), (), name
        )

    async def _guarded(
        self, emb: EmbeddedPdfSignature, ts_context: ValidationContext
    ) -> PdfSignatureVerdict:
        """:meth:`_one`, with any failure of the libraries on hostile input made a verdict."""
        try:
            return await self._one(emb, ts_context)
        except Exception as exc:  # the contract: a bad signature is a verdict
            problem = _with_detail(
                Problem(
                    "pdf.unverifiable",
                    "Không kiểm tra được chữ ký số",
                    "the signature cannot be checked",
                ),
                exc,
            )
            return PdfSignatureVerdict(
                signer=None,
                trust=None,
                signature_algorithm=None,
                digest_algorithm=None,
                problem_en=problem.message_en,
                problem_vi=problem.message_vi,
                field_name=_safe(lambda: str(emb.field_name), "?"),
                revision=_safe(lambda: int(emb.signed_revision), -1),
                signer_class=SignerClass.UNKNOWN,
                intact=False,
                valid=False,
                signing_time=None,
                timestamp=None,
                timestamp_ok=None,
                level="unknown",
                coverage="unknown",
                modification_level=None,
                modified_after_signing=True,
                outcome=outcome_of(
                    SubIndication.FORMAT_FAILURE, problem.message_en, problem.message_vi
                ),
                problems=(problem,),
            )

    async def _one(
        self, emb: EmbeddedPdfSignature, ts_context: ValidationContext
    ) -> PdfSignatureVerdict:
        problems: list[Problem] = []
        found: list[Outcome] = []  # one outcome per finding; combine() picks the worst

        def finding(problem: Problem, sub: SubIndication) -> None:
            problems.append(problem)
            found.append(outcome_of(sub, problem.message_en, problem.message_vi))

        md = emb.md_algorithm
        sig_algo = emb.signer_info["signature_algorithm"].signature_algo
        try:
            cert = emb.signer_cert
        except (SignatureValidationError, ValueError, KeyError) as exc:
            cert = None
            finding(
                _with_detail(
                    Problem(
                        "pdf.no_signer_cert",
                        "Không tìm thấy chứng thư số của người ký",
                        "the signer's certificate is missing",
                    ),
                    exc,
                ),
                SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
            )
        # Integrity of the byte ranges + the difference analysis of later revisions.
        try:
            emb.compute_integrity_info(diff_policy=DEFAULT_DIFF_POLICY, skip_diff=False)  # type: ignore[no-untyped-call]
            integrity = emb.summarise_integrity_info()
        except (SignatureValidationError, PdfError, SigningError, ValueError) as exc:
            integrity = {"coverage": None, "diff_result": None, "docmdp_ok": False}
            finding(
                _with_detail(
                    Problem(
                        "pdf.coverage",
                        "Không xác định được phạm vi chữ ký",
                        "cannot establish what the signature covers",
                    ),
                    exc,
                ),
                SubIndication.FORMAT_FAILURE,
            )
        coverage_level = integrity["coverage"]
        diff = integrity["diff_result"]
        if isinstance(diff, DiffResult):
            mod_level: ModificationLevel | None = diff.modification_level
        elif diff is not None:
            mod_level = ModificationLevel.OTHER
        elif coverage_level is SignatureCoverageLevel.ENTIRE_FILE:
            mod_level = ModificationLevel.NONE
        else:
            mod_level = None
        modified = (
            coverage_level not in _COVERAGE
            or mod_level is None
            or mod_level.value > self.policy.tolerated_modification.value
            or integrity["docmdp_ok"] is False
        )
        if modified:
            finding(
                Problem(
                    "pdf.modified_after_signing",
                    "Văn bản bị thay đổi nội dung sau khi ký (không chỉ thêm chữ ký)",
                    "the document was changed after signing (beyond adding signatures)",
                ),
                SubIndication.FORMAT_FAILURE,
            )
        # The CMS signature itself.
        intact = valid = False
        if cert is not None:
            try:
                intact, valid = generic_cms.validate_sig_integrity(
                    emb.signer_info,
                    cert,
                    expected_content_type="data",
                    actual_digest=emb.compute_digest(),
                )
            except (SignatureValidationError, ValueError, KeyError) as exc:
                finding(
                    _with_detail(
                        Problem(
                            "pdf.signature_invalid",
                            "Chữ ký số không hợp lệ",
                            "the signature does not verify",
                        ),
                        exc,
                    ),
                    SubIndication.SIG_CRYPTO_FAILURE,
                )
            if not intact:
                finding(
                    Problem(
                        "pdf.digest_mismatch",
                        "Nội dung đã ký bị thay đổi",
                        "the signed bytes were altered",
                    ),
                    SubIndication.HASH_FAILURE,
                )
            elif not valid:
                finding(
                    Problem(
                        "pdf.signature_invalid",
                        "Chữ ký số không hợp lệ",
                        "the signature value does not verify",
                    ),
                    SubIndication.SIG_CRYPTO_FAILURE,
                )
        if md not in self.policy.accepted_digests:
            finding(
                Problem(
                    "pdf.weak_digest",
                    f"Thuật toán băm {md} không được chấp nhận",
                    f"digest algorithm {md} is not accepted",
                ),
                SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            )
        # Timing: signingTime / /M, and the RFC 3161 signature timestamp (PAdES B-T).
        try:
            timing = await generic_cms.collect_timing_info(
                emb.signer_info, ts_context, raw_digest=emb.compute_digest
            )
        except (SignatureValidationError, ValueError, KeyError) as exc:
            timing = {}
            finding(
                _with_detail(
                    Problem(
                        "pdf.timestamp_invalid",
                        "Dấu thời gian không hợp lệ",
                        "the timestamp token is invalid",
                    ),
                    exc,
                ),
                SubIndication.FORMAT_FAILURE,
            )
        tst: TimestampSignatureStatus | None = timing.get("timestamp_validity")
        timestamp_ok = None if tst is None else bool(tst.intact and tst.valid and tst.trusted)
        if tst is not None and not timestamp_ok:
            # A changed or forged token is proof of tampering; an unknown TSA is a lack of trust.
            ts_sub = (
                SubIndication.HASH_FAILURE
                if not tst.intact
                else SubIndication.SIG_CRYPTO_FAILURE
                if not tst.valid
                else SubIndication.NO_CERTIFICATE_CHAIN_FOUND
            )
            finding(
                Problem(
                    "pdf.timestamp_untrusted",
                    "Dấu thời gian không hợp lệ hoặc không tin cậy",
                    "the timestamp is invalid or from an untrusted authority",
                ),
                ts_sub,
            )
        signing_time = timing.get("signer_reported_dt") or emb.self_reported_timestamp
        # Trust: the shared evaluator (chain, validity, revocation), cached per certificate.
        signer = trust = None
        signer_class = SignerClass.UNKNOWN
        if cert is not None:
            crypto_cert = _to_crypto(cert)
            signer = SignerIdentity.from_certificate(crypto_cert)
            signer_class = classify_signer(crypto_cert, self.policy.signer_class_rule)
            others = [_to_crypto(c) for c in emb.other_embedded_certs]
            trust = await asyncio.to_thread(self.trust.evaluate, crypto_cert, others)
            if trust.status is Trust.EXPIRED and tst is not None and timestamp_ok:
                # PAdES B-T/B-LT: the timestamp proves the signature existed at its genTime;
                # judge the chain then (ETSI EN 319 102-1 §5.5), not today, with the
                # revocation data the document carries (B-LT) as well as ours.
                trust = await self._past.at(crypto_cert, others, tst.timestamp, dss=_read_dss(emb))
            found.append(trust_outcome(trust))
        subfilter = str(emb.sig_object.get("/SubFilter", ""))
        if subfilter == "/ETSI.CAdES.detached":
            level = "PAdES-B-T" if tst is not None else "PAdES-B-B"
            if tst is not None and "/DSS" in emb.reader.root:
                level = "PAdES-B-LT"
        else:
            level = "CMS"
        first = problems[0] if problems else None
        if first is None and trust is not None and not trust.ok:
            first = Problem(
                "pdf.untrusted",
                f"Chứng thư số không tin cậy: {trust.status.value}",
                f"the signer certificate is not trusted: {trust.status.value}",
            )
        outcome = combine(found) if found else VALID
        return PdfSignatureVerdict(
            signer=signer,
            trust=trust,
            signature_algorithm=sig_algo,
            digest_algorithm=md,
            problem_en=first.message_en if first else "",
            problem_vi=first.message_vi if first else "",
            field_name=emb.field_name,
            revision=emb.signed_revision,
            signer_class=signer_class,
            intact=intact,
            valid=valid,
            signing_time=signing_time,
            timestamp=tst.timestamp if tst is not None else None,
            timestamp_ok=timestamp_ok,
            level=level,
            coverage=_COVERAGE.get(coverage_level, "partial"),
            modification_level=mod_level.name.lower() if mod_level is not None else None,
            modified_after_signing=modified,
            outcome=outcome,
            problems=tuple(problems),
        )

    # -- packages ------------------------------------------------------------------------

    def verify_package(
        self, package: bytes | Path | IO[bytes], *, first_is_issued: bool = True
    ) -> tuple[PdfVerdict, ...]:
        """Verify every PDF attachment of an edXML package, in document order.

        The first PDF is judged as the issued document and later ones as attachments
        (appendices) for the Nghị định 30 warnings, unless ``first_is_issued`` is false.
        Non-PDF attachments are skipped. Raises what :func:`hub.edxml.iter_attachments` raises
        for a package that cannot be read (``XmlError``, ``AttachmentError``).
        """
        from hub.edxml.attachments import iter_attachments

        return tuple(self._iter_items(iter_attachments(package), first_is_issued))

    def verify_parsed(
        self, parsed: ParsedPackage, data: Package, *, first_is_issued: bool = True
    ) -> tuple[PdfVerdict, ...]:
        """:meth:`verify_package` over the intake's one parse (``data`` are its bytes): the
        payloads come from the tree instead of a second parse of the package
        (:func:`hub.edxml.attachments.iter_parsed_attachments`); same verdicts, same errors."""
        from hub.edxml.attachments import iter_parsed_attachments

        items = iter_parsed_attachments(parsed, data)
        return tuple(self._iter_items(items, first_is_issued))

    def _iter_items(
        self, items: Iterator[ExtractedAttachment], first_is_issued: bool
    ) -> Iterator[PdfVerdict]:
        seen_pdf = False
        for item in items:
            with item:
                item.content.seek(0)
                head = item.content.read(1024)
                item.content.seek(0)
                if b"%PDF-" not in head:
                    continue
                kind = (
                    DocumentKind.ISSUED
                    if first_is_issued and not seen_pdf
                    else DocumentKind.ATTACHMENT
                )
                seen_pdf = True
                name = item.attachment_name or item.entry_name or item.content_id
                yield self.verify(item.content, kind, name=name, sha256=item.sha256)


def _read_dss(emb: EmbeddedPdfSignature) -> DocumentSecurityStore | None:
    """The document's security store (validation data added for B-LT), if it has one."""
    try:
        return DocumentSecurityStore.read_dss(emb.reader)
    except NoDSSFoundError:
        return None


def _safe(get: Callable[[], _T], default: _T) -> _T:
    try:
        return get()
    except Exception:  # only describes an already failed signature
        return default


def _with_detail(problem: Problem, exc: BaseException) -> Problem:
    detail = str(exc).strip()[:200]
    if not detail:
        return problem
    return Problem(
        problem.code, f"{problem.message_vi} ({detail})", f"{problem.message_en} ({detail})"
    )


def _renamed(verdict: PdfVerdict, name: str | None) -> PdfVerdict:
    return replace(verdict, name=name)
