"""The structural layer of the profile check: the profile XSD (in place) and the shape of the
envelope ``Signature``.

Contract: :func:`schema_problems` validates a parsed package against
``schemas/edxml/edxml-profile.xsd`` (the hub's own profile, not an official schema; see the
README beside it) and yields one ``edxml.schema`` error per violation, with the element path
and line. :func:`profile_schema` loads the XSD once per process. The optional codes QCVN 102
gives as integers (``Priority``, ``SteeringType``, ``Paper``…) or a boolean (``Direction``)
are typed as text in the XSD — such a value loses nothing the hub needs to route or record the
document (``schemas/edxml/PROFILE.md``) — and the semantic layer warns with
:func:`not_a_code` where one does not read so.

Hazard — attachment text. PERFORMANCE.md measured libxml2 at ≈ 6.5 ms per MB of base64 inside
the XML. That cost comes from the *type*: an element typed ``xs:base64Binary`` has its every
character decoded by the validator. The profile types ``ContentTransferEncoded`` as
``xs:string`` (whitespace "preserve", no facets), which libxml2 accepts without looking at the
characters, so the package is validated **in place, with no copy**: measured 19 µs for the
whole validation with a 400 KB or a 4 MB payload, against 6.5 ms / 35 ms with
``xs:base64Binary``, 46–51 µs for an attachment-free skeleton copy, and ≈ 430 µs for a full deep
copy with the text blanked (``bench/RESULTS-validate.md``). The payload is checked outside the
validator (:mod:`hub.edxml.profile_payload`). *Keep it that way*: a test pins the
``xs:string`` type, because typing the payload would make every package cost its size again.
"""

from __future__ import annotations

import binascii
import threading
from collections.abc import Iterator
from functools import cache
from typing import Any

from lxml import etree

from hub import xmlsafe
from hub.edxml.model import DSIG_NS
from hub.edxml.problems import Problem, error, warning
from hub.resources import data_path
from hub.xmlsafe import element_path

__all__ = ["is_int", "not_a_code", "profile_schema", "schema_problems", "signature_problems"]

_E = etree._Element
_SHA1 = ("#rsa-sha1", "#dsa-sha1", "#sha1", "#hmac-sha1")


#: libxml2 must not build the schema in two threads at once (the first pushes after a restart
#: arrive together: "Document is not valid XML Schema"), and one XMLSchema's error log is
#: shared by every validation: both happen under this lock (a validation costs ≈ 15 µs).
_SCHEMA_LOCK = threading.Lock()


@cache
def _load_profile_schema() -> etree.XMLSchema:
    path = data_path("schemas", "edxml", "edxml-profile.xsd")
    return etree.XMLSchema(xmlsafe.parse(path.read_bytes()))


def profile_schema() -> etree.XMLSchema:
    """The profile XSD, parsed once per process — through the same hardened parser as
    everything else (the file is shipped data, but an edited copy gets no special trust)."""
    with _SCHEMA_LOCK:
        return _load_profile_schema()


def schema_problems(root: _E) -> Iterator[Problem]:
    target = root  # in place: see the module docstring for why no copy is needed
    with _SCHEMA_LOCK:
        schema = _load_profile_schema()
        if schema.validate(target):
            return
        errors: Any = schema.error_log
        log = list(errors)
    for entry in log:
        msg = entry.message
        path = _readable_path(target, entry.path)
        yield error(
            "edxml.schema",
            path,
            f"does not fit the hub's edXML profile: {msg}",
            f"không đúng lược đồ edXML của hub: {msg}",
            entry.line or None,
        )


def is_int(text: str) -> bool:
    """True when ``text`` reads as an integer (as the reader's ``int()``)."""
    try:
        int(text)
    except ValueError:
        return False
    return True


def not_a_code(el: _E, text: str, form: str) -> Problem:
    """The ``edxml.value`` warning for an optional code ``el`` whose ``text`` is not ``form``
    ("an integer" or "true/false"): the reader reads it as absent."""
    name = etree.QName(el).localname
    form_vi = "số nguyên" if form == "an integer" else "true/false"
    return warning(
        "edxml.value",
        element_path(el),
        f"{name} {text!r} is not {form}; read as absent",
        f"{name} {text!r} không phải {form_vi}; được coi như không có",
        line if isinstance(line := el.sourceline, int) else None,
    )


def _readable_path(target: _E, xpath: str | None) -> str | None:
    """libxml2 reports XPaths with the sender's prefixes or positions (``/*/edXML:…``,
    ``/*/*[1]/*[7]``); turn them into the hub's readable element paths."""
    if not xpath:
        return None
    prefixes: dict[str, str] = {}
    for el in target.iter():  # error path only: the prefixes the sender used, wherever declared
        for prefix, uri in el.nsmap.items():
            if prefix:
                prefixes.setdefault(prefix, uri)
    try:
        found: Any = target.xpath(xpath, namespaces=prefixes)
    except etree.XPathError:
        return xpath
    if isinstance(found, list) and found and isinstance(found[0], etree._Element):
        return element_path(found[0])
    return xpath


def signature_problems(sig: _E, path: str) -> list[Problem]:
    """The *shape* of the envelope ``Signature`` (QCVN 102 §6 practice): not XML-DSig, SHA-1,
    a certificate that is not one. All warnings: verification belongs to ``signing`` and the
    decision to policy; an SDK placeholder signature is normal in real traffic."""
    out: list[Problem] = []
    if sig.tag != f"{{{DSIG_NS}}}Signature":
        out.append(
            warning(
                "signature.not_xmldsig",
                path,
                "the envelope Signature is not in the XML-DSig namespace (SDK output); it "
                "cannot be verified as XML-DSig and is kept as received",
                "chữ ký gói tin không thuộc không gian tên XML-DSig (đầu ra của SDK); không "
                "thể xác thực theo XML-DSig, được giữ nguyên như khi nhận",
            )
        )
    weak = [
        el.get("Algorithm", "")
        for el in sig.iter()
        if isinstance(el.tag, str)
        and el.tag.rpartition("}")[2] in ("SignatureMethod", "DigestMethod")
        and el.get("Algorithm", "").endswith(_SHA1)
    ]
    if weak:
        out.append(
            warning(
                "signature.weak_algorithm",
                path,
                f"SHA-1 based algorithm(s): {', '.join(sorted(set(weak)))}",
                f"thuật toán dựa trên SHA-1: {', '.join(sorted(set(weak)))}",
            )
        )
    for el in sig.iter():
        if isinstance(el.tag, str) and el.tag.rpartition("}")[2] == "X509Certificate":
            if not _looks_like_certificate(el.text or ""):
                out.append(
                    warning(
                        "signature.placeholder",
                        f"{path}/KeyInfo/X509Data/X509Certificate",
                        "X509Certificate is not a certificate (placeholder or truncated)",
                        "X509Certificate không phải chứng thư số (giá trị mẫu hoặc bị cắt)",
                    )
                )
            break

    return out


def _looks_like_certificate(text: str) -> bool:
    """A DER certificate in base64: decodes, starts with a SEQUENCE, and is not tiny."""
    try:
        der = binascii.a2b_base64("".join(text.split()), strict_mode=True)
    except binascii.Error:
        return False
    return len(der) >= 64 and der[0] == 0x30
