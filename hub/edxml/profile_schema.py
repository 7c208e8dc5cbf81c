"""The structural layer of the profile check: the hub's profile XSD, applied to the envelope.

Contract: :func:`schema_problems` validates a parsed package against
``schemas/edxml/edxml-profile.xsd`` (the hub's own profile, not an official schema; see the
README beside it) and yields one ``edxml.schema`` error per violation, with the element path
and line. :func:`profile_schema` loads the XSD once per process.

Hazard — attachment text (PERFORMANCE.md: libxml2 validates base64 text at ≈ 6.5 ms per MB,
more than the whole header check). The validator never sees it: a package with
``AttachmentEncoded`` is validated as a *skeleton* — the envelope deep-copied (a few KB) and
each ``Attachment`` rebuilt without its ``ContentTransferEncoded`` text — while a package
without one (every status message) is validated in place, with no copy at all. The skeleton was
measured against stripping the text from a full deep copy (``bench/RESULTS-validate.md``): the
full copy duplicates the payload and costs time in proportion to it; the skeleton does not.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from typing import Any

from lxml import etree

from hub.edxml.model import NS
from hub.edxml.problems import Problem, error
from hub.resources import data_path
from hub.xmlsafe import element_path

__all__ = ["is_edxml", "profile_schema", "schema_problems", "skeleton"]

_E = etree._Element
_P = "{" + NS + "}"


@cache
def profile_schema() -> etree.XMLSchema:
    """The profile XSD, parsed once per process. The file is ours (shipped data), so it is
    read with lxml directly rather than through :mod:`hub.xmlsafe`, which is for outside bytes."""
    path = data_path("schemas", "edxml", "edxml-profile.xsd")
    return etree.XMLSchema(etree.parse(str(path)))


def is_edxml(el: _E, name: str) -> bool:
    return el.tag == _P + name or el.tag == name


def skeleton(root: _E) -> _E:
    """A copy of the package without any ``ContentTransferEncoded`` text (see module doc)."""
    nsmap: Any = root.nsmap
    skel = etree.Element(root.tag, nsmap=nsmap)
    skel.attrib.update(root.attrib)
    for child in root:
        if not is_edxml(child, "AttachmentEncoded"):
            skel.append(copy.deepcopy(child))
            continue
        ae = etree.SubElement(skel, child.tag)
        ae.attrib.update(child.attrib)
        for att in child:
            if not isinstance(att.tag, str):
                continue
            a2 = etree.SubElement(ae, att.tag)
            a2.attrib.update(att.attrib)
            for field in att:
                if isinstance(field.tag, str) and is_edxml(field, "ContentTransferEncoded"):
                    etree.SubElement(a2, field.tag).attrib.update(field.attrib)
                else:
                    a2.append(copy.deepcopy(field))
    return skel


def schema_problems(root: _E) -> Iterator[Problem]:
    schema = profile_schema()
    has_payload = any(isinstance(c.tag, str) and is_edxml(c, "AttachmentEncoded") for c in root)
    target = skeleton(root) if has_payload else root
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
    """libxml2 reports positional XPaths (``/*/*[1]/*[7]``) for elements it cannot name; turn
    them back into the hub's readable element paths. The skeleton keeps every element of the
    original in place, so a path computed on it is the path in the received package."""
    if not xpath:
        return None
    try:
        found: Any = target.xpath(xpath)
    except etree.XPathError:
        return xpath
    if isinstance(found, list) and found and isinstance(found[0], etree._Element):
        return element_path(found[0])
    return xpath
