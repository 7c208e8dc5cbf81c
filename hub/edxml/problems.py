"""What the profile check finds: :class:`Problem` values and the :class:`ValidationReport`.

Verdicts are values (STYLE.md §5): a check that ran returns a report, whatever it found; only a
failure to check at all raises. A report is ``ok`` when no problem has error severity; warnings
are facts the sending agency's policy may or may not refuse on (a malformed agency code, an SDK
placeholder signature, a Manifest/attachment content-type disagreement, an omitted
``SignerInfo``); the intake turns each into a flag on the accepted document unless the policy
escalates it (:mod:`hub.policy`).

Problem codes are stable API (stored with the package, shown in the dashboard, matched by
policy). The catalogue, with the default severity:

==================================  ========  ==================================================
code                                severity  meaning
==================================  ========  ==================================================
``xml.*``                           error     not safe, well-formed XML (from :mod:`hub.xmlsafe`)
``edxml.root`` / ``edxml.missing``  error     not a readable edXML package (from the reader)
``edxml.schema``                    error     breaks the hub's profile XSD (structure; a
                                              BussinessDocType that is not an integer)
``edxml.required``                  error     an element without which the package has no
                                              meaning (sender, recipient, DocumentId…) is absent
``edxml.duplicate``                 error     an element that must occur once occurs again
``edxml.value``                     error/w.  a value outside its code list (error for
                                              BussinessDocType; warning for an optional code
                                              such as Priority that is not a number)
``edxml.date_format``               error/w.  a date not ``yyyy/MM/dd`` / timestamp not
                                              ``yyyy/MM/dd HH:mm:ss`` (warning: not zero-padded)
``profile.*``                       warning   an element QCVN 102 asks for but real traffic
                                              omits (``profile.signer_info_missing``…; the
                                              list: :mod:`hub.edxml.profile_rules`)
``trace.sender_mismatch``           warning   the first TraceHeader is not the sender
``agency.malformed``                warning   an OrganId in neither code form (QCVN 102, QĐ 20)
``agency.unknown``                  warning   an OrganId the registry does not know
``agency.closed``                   warning   an OrganId closed on the day (successor named)
``attachment.missing``              error     a Manifest Reference with no Attachment
``attachment.unlisted``             error     an Attachment no Manifest Reference names
``attachment.duplicate_id``         error     two References or Attachments share a ContentId
``attachment.undecodable``          error     ContentTransferEncoded is empty or not base64
``attachment.corrupt``              error     a ZIP payload that fails its integrity test
``attachment.content_type_mismatch`` warning  Manifest and Attachment disagree on ContentType
``attachment.name_mismatch``        warning   Manifest and Attachment disagree on the name
``attachment.not_zip``              warning   declared ``application/zip`` but no ZIP magic
``attachment.unchecked``            warning   payload not checked (tree without the text)
``signature.not_xmldsig``           warning   envelope Signature not in the XML-DSig namespace
``signature.weak_algorithm``        warning   SHA-1 signature or digest method
``signature.placeholder``           warning   X509Certificate that is not a certificate
==================================  ========  ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hub.edxml.model import EdocPackage, StatusPackage
from hub.errors import ProfileError


class Severity(StrEnum):
    """How bad a finding is: an error makes the package invalid, a warning informs policy."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: stable ``code``, ``severity``, element ``path``, and the text in vi/en."""

    code: str
    severity: Severity
    path: str | None
    message_en: str
    message_vi: str
    line: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def message(self, lang: str = "vi") -> str:
        """The text in ``lang`` ("vi" or "en")."""
        return self.message_vi if lang == "vi" else self.message_en

    def to_dict(self, lang: str = "vi") -> dict[str, Any]:
        """JSON-ready: code, severity, message in ``lang``, path and line where known."""
        out: dict[str, Any] = {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message(lang),
        }
        if self.path:
            out["path"] = self.path
        if self.line is not None:
            out["line"] = self.line
        return out


def error(code: str, path: str | None, en: str, vi: str, line: int | None = None) -> Problem:
    """An error-severity :class:`Problem`."""
    return Problem(code, Severity.ERROR, path, en, vi, line)


def warning(code: str, path: str | None, en: str, vi: str, line: int | None = None) -> Problem:
    """A warning-severity :class:`Problem`."""
    return Problem(code, Severity.WARNING, path, en, vi, line)


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The result of checking one package against the hub's profile.

    ``package`` is ``None`` only when the bytes could not be read as edXML at all (the problems
    then say why). ``ok`` is true when no problem has error severity.
    """

    problems: tuple[Problem, ...]
    package: EdocPackage | StatusPackage | None

    @property
    def ok(self) -> bool:
        return not any(p.is_error for p in self.problems)

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.is_error)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.is_error)

    def codes(self) -> list[str]:
        """The problem codes in order (handy for tests and logs)."""
        return [p.code for p in self.problems]

    def to_dict(self, lang: str = "vi") -> dict[str, Any]:
        """JSON-ready: ``ok``, counts, and every problem."""
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.to_dict(lang) for p in self.problems],
        }

    def raise_for_errors(self) -> None:
        """Raise :class:`~hub.errors.ProfileError` carrying every problem if not ``ok``."""
        if self.ok:
            return
        first = self.errors[0]
        n = len(self.errors)
        raise ProfileError(
            f"package breaks the edXML profile ({n} error(s)); first: {first.message_en}",
            message_vi=f"gói tin vi phạm hồ sơ edXML ({n} lỗi); lỗi đầu: {first.message_vi}",
            path=first.path,
            problems=self.problems,
        )
