"""The structural layer of the profile check: the hub's profile XSD, applied in place.

Contract: :func:`schema_problems` validates a parsed package against
``schemas/edxml/edxml-profile.xsd`` (the hub's own profile, not an official schema; see the
README beside it) and yields one ``edxml.schema`` error per violation, with the element path
and line. :func:`profile_schema` loads the XSD once per process.

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

from collections.abc import Iterator
from functools import cache
from typing import Any

from lxml import etree

from hub.edxml.problems import Problem, error
from hub.resources import data_path
from hub.xmlsafe import element_path

__all__ = ["profile_schema", "schema_problems"]

_E = etree._Element


@cache
def profile_schema() -> etree.XMLSchema:
    """The profile XSD, parsed once per process. The file is ours (shipped data), so it is
    read with lxml directly rather than through :mod:`hub.xmlsafe`, which is for outside bytes."""
    path = data_path("schemas", "edxml", "edxml-profile.xsd")
    return etree.XMLSchema(etree.parse(str(path)))


def schema_problems(root: _E) -> Iterator[Problem]:
    schema = profile_schema()
    target = root  # in place: see the module docstring for why no copy is needed
    if schema.validate(target):
        return
    log: Any = schema.error_log
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
