"""The one hardened XML entry point: every byte from outside is parsed here.

Contract: bytes in, an lxml element (or a streaming parser) out, or an :class:`XmlError` that
says what is wrong and where (line, element path). Never a crash, never a hang, never a network
access.

Hazards and what stops them:

* **DTDs and entities** (XXE, billion laughs, quadratic blow-up, external DTD): any
  ``<!DOCTYPE`` is refused before libxml2 sees the document; the parser is also built with
  ``resolve_entities=False``, ``load_dtd=False``, ``no_network=True`` so nothing is expanded or
  fetched even if a check were bypassed. edXML (QCVN 102:2016) declares no DTD.
* **Size**: the caller's cap is checked before parsing; libxml2's own limits (``huge_tree`` off:
  10 MB text nodes, depth 256) stay on. Large attachments are streamed with :func:`feed_parser`
  by the attachment reader, not parsed into a tree.
* **Encoding**: only UTF-8 (optionally with a BOM) is accepted — edXML is UTF-8 — so a
  UTF-16/UTF-7 trick cannot hide a DOCTYPE from the prolog check; invalid byte sequences are a
  clear error with the line.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from hub.errors import XmlError

#: Default cap for a document parsed into a tree (header-sized documents; large attachments are
#: streamed by :mod:`hub.edxml.attachments`).
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"
_DECL = re.compile(rb"^<\?xml\s[^>]*?\?>", re.DOTALL)
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_UTF8_NAMES = frozenset({"utf-8", "utf8"})
_PROLOG_SCAN = 64 * 1024
#: Element nesting limit, as libxml2's tree parser (which a streaming target does not get).
MAX_DEPTH = 256


def _parser_options() -> dict[str, Any]:
    return {
        "resolve_entities": False,
        "no_network": True,
        "load_dtd": False,
        "dtd_validation": False,
        "huge_tree": False,
        "remove_blank_text": False,
        "collect_ids": False,
    }


_TREE_PARSER = etree.XMLParser(**_parser_options())


def check_prolog(head: bytes) -> None:
    """Refuse a document whose start declares a non-UTF-8 encoding or a DTD.

    ``head`` is the first bytes of the document (at least up to its root element when the
    document is longer than a few KB).
    """
    if not head.strip():
        raise XmlError(
            "empty document",
            message_vi="tài liệu rỗng",
            code="xml.empty",
            line=1,
        )
    text = head[len(_BOM) :] if head.startswith(_BOM) else head
    if text.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00<", b"<\x00")):
        raise XmlError(
            "only UTF-8 documents are accepted (UTF-16 detected)",
            message_vi="chỉ chấp nhận tài liệu mã hóa UTF-8 (phát hiện UTF-16)",
            code="xml.encoding",
            line=1,
        )
    decl = _DECL.match(text)
    if decl:
        enc = _ENCODING.search(decl.group(0))
        if enc and enc.group(1).decode("ascii").lower() not in _UTF8_NAMES:
            raise XmlError(
                f"only UTF-8 documents are accepted, not {enc.group(1).decode('ascii')}",
                message_vi=f"chỉ chấp nhận mã hóa UTF-8, không nhận {enc.group(1).decode('ascii')}",
                code="xml.encoding",
                line=1,
            )
    # The DOCTYPE, if any, stands between the declaration and the root element. Walk the
    # prolog's comments and processing instructions and look at the first markup after them.
    pos = decl.end() if decl else 0
    limit = min(len(text), _PROLOG_SCAN)
    while pos < limit:
        lt = text.find(b"<", pos, limit)
        if lt < 0 or lt + 9 > limit:  # no markup, or too little left to tell what it is
            _prolog_end(text)
            return
        if text.startswith(b"<!--", lt):
            end = text.find(b"-->", lt + 4, limit)
            if end < 0:
                _prolog_end(text)
                return  # unterminated comment: the parser reports it with its line
            pos = end + 3
        elif text.startswith(b"<?", lt):
            end = text.find(b"?>", lt + 2, limit)
            if end < 0:
                _prolog_end(text)
                return
            pos = end + 2
        elif text[lt : lt + 9].upper() == b"<!DOCTYPE":
            line = text.count(b"\n", 0, lt) + 1
            raise XmlError(
                "a DOCTYPE (DTD) is not allowed in edXML; entities and DTDs are refused",
                message_vi="không chấp nhận khai báo DOCTYPE (DTD) trong edXML",
                code="xml.doctype",
                line=line,
            )
        else:
            return
    _prolog_end(text)


def _prolog_end(text: bytes) -> None:
    """Refuse a prolog (comments, PIs) that runs past the scanned window: a DOCTYPE could hide
    behind it from the check above, and the streaming parser has no post-parse DTD check."""
    if len(text) >= _PROLOG_SCAN - len(_BOM):
        raise XmlError(
            f"the prolog (comments and processing instructions before the root element) is "
            f"longer than {_PROLOG_SCAN} bytes",
            message_vi=(
                f"phần mở đầu tài liệu (chú thích, chỉ thị xử lý) dài hơn {_PROLOG_SCAN} byte"
            ),
            code="xml.limit",
            line=1,
        )


def _translate(exc: etree.XMLSyntaxError) -> XmlError:
    msg = str(exc.msg or exc).strip()
    line = exc.lineno or None
    low = msg.lower()
    if "premature end" in low or "end of data" in low or "not closed" in low:
        code, vi = "xml.truncated", "tài liệu bị cắt cụt: kết thúc trước khi đóng đủ phần tử"
    elif "entity" in low:
        code, vi = "xml.entity", "tham chiếu thực thể (entity) không được chấp nhận"
    elif "encoding" in low or "utf-8" in low or "input is not proper" in low:
        code, vi = "xml.encoding", "dữ liệu không phải UTF-8 hợp lệ"
    elif "huge" in low or "limit" in low or "depth" in low:
        code, vi = "xml.limit", "tài liệu vượt giới hạn an toàn của bộ phân tích XML"
    else:
        code, vi = "xml.malformed", "XML không hợp lệ"
    col = exc.position[1] if exc.position else None
    where = f" (column {col})" if col else ""
    return XmlError(f"{msg}{where}", message_vi=f"{vi}: {msg}", code=code, line=line)


def parse(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse ``data`` into an element tree with every protection on; return the root.

    Raises :class:`XmlError` (``code`` ``xml.*``, ``line`` set where known) for an oversize,
    empty, non-UTF-8, DTD-carrying, truncated or otherwise malformed document.
    """
    if len(data) > max_bytes:
        raise XmlError(
            f"document of {len(data)} bytes exceeds the cap of {max_bytes} bytes",
            message_vi=f"tài liệu {len(data)} byte vượt giới hạn {max_bytes} byte",
            code="xml.too_large",
        )
    check_prolog(data[:_PROLOG_SCAN])
    try:
        root = etree.fromstring(data, _TREE_PARSER)
    except etree.XMLSyntaxError as exc:
        raise _translate(exc) from exc
    if root is None:  # pragma: no cover - lxml raises instead, kept for the type checker
        raise XmlError("empty document", code="xml.empty")
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlError(
            "a DOCTYPE (DTD) is not allowed in edXML",
            message_vi="không chấp nhận khai báo DOCTYPE (DTD) trong edXML",
            code="xml.doctype",
        )
    return root


def feed_parser(target: Any) -> etree.XMLParser:
    """A hardened incremental parser delivering SAX-style events to ``target``.

    Used to stream documents too large for a tree (large attachments). The caller must run
    :func:`check_prolog` on the first chunk, cap the total size and the nesting depth itself
    (:data:`MAX_DEPTH`, :func:`too_deep`: libxml2's depth limit does not reach a target) and
    refuse a ``doctype()`` callback (:func:`doctype_refused`); errors raised by
    ``close()``/``feed()`` are ``etree.XMLSyntaxError`` — pass them to :func:`syntax_error`.
    """
    return etree.XMLParser(target=target, **_parser_options())


def too_deep() -> XmlError:
    """The error for nesting beyond :data:`MAX_DEPTH`, raised by streaming targets."""
    return XmlError(
        f"elements nested deeper than {MAX_DEPTH} levels",
        message_vi=f"phần tử lồng nhau sâu quá {MAX_DEPTH} cấp",
        code="xml.limit",
    )


def doctype_refused() -> XmlError:
    """The error for a DOCTYPE met by a streaming target (its ``doctype()`` callback)."""
    return XmlError(
        "a DOCTYPE (DTD) is not allowed in edXML",
        message_vi="không chấp nhận khai báo DOCTYPE (DTD) trong edXML",
        code="xml.doctype",
    )


def syntax_error(exc: etree.XMLSyntaxError) -> XmlError:
    """Translate an lxml syntax error from :func:`feed_parser` into an :class:`XmlError`."""
    return _translate(exc)


def local_name(el: etree._Element) -> str:
    """The local name of an element, without its namespace."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def element_path(el: etree._Element) -> str:
    """A readable path such as ``/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/To[2]/OrganId``.

    Local names only (the edXML namespace is implied); an index is added where siblings share
    a name.
    """
    parts: list[str] = []
    node: etree._Element | None = el
    while node is not None:
        name = local_name(node)
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if c.tag == node.tag]
            if len(same) > 1:
                name = f"{name}[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))
