"""The one error tree of the hub, split by whose fault a failure is.

::

    HubError                          root: every error the hub raises on purpose
    ├── SenderError                   the caller's fault → 4xx, never retried
    │   ├── XmlError                  bytes that are not safe, well-formed XML (line, path)
    │   ├── EdxmlError                well-formed XML that is not a readable edXML package
    │   │   └── AttachmentError       an attachment that does not decode or match its manifest
    │   ├── ProfileError              a package that breaks the hub's edXML profile (problems)
    │   ├── PackageTooLarge           a body over the configured size cap
    │   ├── RequestTimeout            a body that arrives slower than the configured minimum rate
    │   ├── AuthenticationFailed      unknown system, bad HMAC, stale or malformed request
    │   ├── ReplayedRequest           signed headers already used (where repeats are refused)
    │   ├── Forbidden                 an authenticated system acting outside its rights
    │   ├── NotFound                  a document / delivery / system that does not exist (for it)
    │   ├── Conflict                  a request that contradicts stored state (same id, other bytes)
    │   ├── InvalidRequest            a malformed parameter of an API call
    │   ├── PolicyRefused             a package refused by the sending agency's policy
    │   ├── SealRefused               a PDF the agency's seal may not be applied to (yet)
    │   └── IllegalTransition         a delivery state change the state machine forbids
    ├── PeerError                     a peer's fault (national axis, other hub) → retry, then DLQ
    │   ├── PeerUnavailable           the peer could not be reached or answered 5xx
    │   │   └── PeerBadReply          something else answered: an HTML page, an empty body
    │   └── PeerAuthRefused           the peer refused our credential (401/403, a token
    │                                 endpoint's refusal): an operator alert
    ├── KeyAccessError                unusable key material (wrong PIN, no token, expired)
    └── InternalError                 ours (database, broker, disk) → 503, nothing lost
        ├── StoreUnavailable          the database cannot be reached or refused the transaction
        └── BrokerUnavailable         the broker cannot be reached or did not confirm

Each class carries structured fields (``code``, ``path``, ``document_id``…) so the HTTP layer,
the CLI and the logs render the same facts; ``message_vi`` / ``message_en`` carry the text a
person reads. Adapters translate third-party exceptions once, at their edge
(``raise StoreUnavailable(...) from exc``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class HubError(Exception):
    """Root of every error the hub raises on purpose."""

    #: Stable machine code (e.g. ``"xml.entity"``); subclasses set a default.
    code: str = "hub.error"
    #: HTTP status the API answers with.
    http_status: int = 500

    def __init__(
        self,
        message_en: str,
        *,
        message_vi: str | None = None,
        code: str | None = None,
        path: str | None = None,
        line: int | None = None,
        document_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_vi = message_vi or message_en
        if code is not None:
            self.code = code
        self.path = path
        self.line = line
        self.document_id = document_id
        self.details = details or {}

    def message(self, lang: str = "vi") -> str:
        """The human-readable message in ``lang`` ("vi" or "en"), with its location."""
        text = self.message_vi if lang == "vi" else self.message_en
        where = []
        if self.line is not None:
            where.append(f"{'dòng' if lang == 'vi' else 'line'} {self.line}")
        if self.path:
            where.append(self.path)
        return f"{text} ({', '.join(where)})" if where else text

    def to_dict(self, lang: str = "vi") -> dict[str, Any]:
        """A JSON-ready description: code, message, and the location fields that are set."""
        out: dict[str, Any] = {"code": self.code, "message": self.message(lang)}
        if self.path:
            out["path"] = self.path
        if self.line is not None:
            out["line"] = self.line
        if self.document_id:
            out["document_id"] = self.document_id
        if self.details:
            out["details"] = self.details
        return out


class SenderError(HubError):
    """The caller's fault: answered with a 4xx and never retried."""

    code = "sender.error"
    http_status = 400


class XmlError(SenderError):
    """Bytes that are not safe, well-formed XML (DTD, entity, oversize, encoding, truncation)."""

    code = "xml.malformed"


class EdxmlError(SenderError):
    """Well-formed XML that is not a readable edXML package (missing or malformed element)."""

    code = "edxml.invalid"


class AttachmentError(EdxmlError):
    """An attachment that does not decode, or does not match its manifest entry."""

    code = "edxml.attachment"


class ProfileError(SenderError):
    """A package that breaks the hub's edXML profile; ``problems`` lists every finding."""

    code = "edxml.profile"
    http_status = 422

    def __init__(self, message_en: str, *, problems: Sequence[Any] = (), **kw: Any) -> None:
        super().__init__(message_en, **kw)
        self.problems = tuple(problems)


class PackageTooLarge(SenderError):
    """A request body over the configured size cap."""

    code = "request.too_large"
    http_status = 413


class RequestTimeout(SenderError):
    """A request body that did not arrive in time (slower than the minimum data rate)."""

    code = "request.timeout"
    http_status = 408


class AuthenticationFailed(SenderError):
    """Unknown system, bad HMAC, stale timestamp or malformed authentication headers."""

    code = "auth.failed"
    http_status = 401


class ReplayedRequest(SenderError):
    """Signed headers already used once, on a façade that refuses repeats: not a credential
    problem — the same request signed again (a fresh timestamp) is accepted."""

    code = "auth.replayed"
    http_status = 409


class Forbidden(SenderError):
    """An authenticated system acting outside its rights (agency it does not host, …)."""

    code = "auth.forbidden"
    http_status = 403


class NotFound(SenderError):
    """A document, delivery, system or agency that does not exist, or not for this caller."""

    code = "not_found"
    http_status = 404


class Conflict(SenderError):
    """A request that contradicts stored state (same DocumentId with different bytes, …)."""

    code = "conflict"
    http_status = 409


class InvalidRequest(SenderError):
    """A malformed parameter of an API call."""

    code = "request.invalid"


class PolicyRefused(SenderError):
    """A package refused by the sending agency's policy (bad signature, unknown code, …)."""

    code = "policy.refused"
    http_status = 422


class SealRefused(SenderError):
    """A PDF the agency's seal may not be applied to: no, a broken or an unproven person's
    signature, or one already sealed (Nghị định 30, Art. 33)."""

    code = "seal.refused"
    http_status = 422


class IllegalTransition(SenderError):
    """A delivery state change that the delivery state machine does not allow."""

    code = "delivery.illegal_transition"
    http_status = 409


class PeerError(HubError):
    """A peer's fault (national axis, another hub): retried with backoff, then dead-lettered."""

    code = "peer.error"
    http_status = 502


class PeerUnavailable(PeerError):
    """The peer could not be reached, timed out, or answered with a server error."""

    code = "peer.unavailable"
    http_status = 503


class PeerBadReply(PeerUnavailable):
    """The peer answered outside its protocol (an HTML page, an empty body): whatever answered
    is standing in the peer's place (a proxy, a login portal, a broken deployment)."""

    code = "peer.bad_reply"


class PeerAuthRefused(PeerError):
    """The peer refused this hub's credential (HTTP 401/403 or its authentication error).

    Retrying cannot help until an operator fixes the credential on one side: the circuit
    breaker opens and raises an alert instead of letting every delivery hammer the peer.
    """

    code = "peer.auth_refused"
    http_status = 502


class KeyAccessError(HubError):
    """Key material that cannot be used: wrong PIN, missing token or object, expired certificate."""

    code = "key.unusable"
    http_status = 400


class InternalError(HubError):
    """The hub's own fault (database, broker, disk): 503, nothing accepted is lost."""

    code = "internal"
    http_status = 503


class StoreUnavailable(InternalError):
    """The database cannot be reached or refused the transaction."""

    code = "store.unavailable"


class BrokerUnavailable(InternalError):
    """The broker cannot be reached or did not confirm a publish."""

    code = "broker.unavailable"


def document_id_reused(document_id: str) -> Conflict:
    """The :class:`Conflict` of a new document whose DocumentId its sender already used.

    One wording wherever it is found: intake's check, or the store's unique index when two
    pushes raced past that check (QCVN 102 §2.3: only revoke/update/replace reuse the id).
    """
    return Conflict(
        f"DocumentId {document_id!r} was already sent with other content",
        message_vi=f"mã văn bản {document_id!r} đã được gửi với nội dung khác",
        code="document.id_reused",
        document_id=document_id,
        path="/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/DocumentId",
    )
