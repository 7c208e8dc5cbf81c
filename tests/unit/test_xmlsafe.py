"""The hardened XML entry point against the attack corpus in ``data/xml-attacks``.

Every hostile input must give a specific :class:`XmlError` code, through the tree parser
(:func:`hub.xmlsafe.parse`) and through the streaming path used for large packages
(:func:`hub.edxml.iter_attachments`, :func:`hub.edxml.parse_package` above its tree limit), and
never expand an entity, read a file or open a connection.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub import xmlsafe
from hub.edxml import iter_attachments
from hub.edxml.reader import _stream_tree
from hub.errors import XmlError
from tests.factories import make_edoc

ATTACKS = Path(__file__).with_name("data") / "xml-attacks"

EXPECTED = {
    "xxe_file.xml": "xml.doctype",
    "xxe_http.xml": "xml.doctype",
    "billion_laughs.xml": "xml.doctype",
    "quadratic_blowup.xml": "xml.doctype",
    "external_dtd.xml": "xml.doctype",
    "parameter_entities.xml": "xml.doctype",
    "doctype_after_comment.xml": "xml.doctype",
    "undeclared_entity.xml": "xml.entity",
    "non_utf8_garbage.xml": "xml.encoding",
    "latin1_declared.xml": "xml.encoding",
    "utf7_declared.xml": "xml.encoding",
    "utf16_bom.xml": "xml.encoding",
    "utf16_no_bom.xml": "xml.encoding",
    "truncated.xml": "xml.truncated",
    "empty.xml": "xml.empty",
    "whitespace_only.xml": "xml.empty",
    "deep_nesting.xml": "xml.limit",
    "mismatched_tags.xml": "xml.malformed",
}


def test_corpus_and_table_agree() -> None:
    on_disk = {p.name for p in ATTACKS.glob("*.xml")}
    assert on_disk == set(EXPECTED) | {"xinclude.xml"}


@pytest.mark.parametrize(("name", "code"), sorted(EXPECTED.items()))
def test_tree_parser_refuses_with_code(name: str, code: str) -> None:
    data = (ATTACKS / name).read_bytes()
    with pytest.raises(XmlError) as exc:
        xmlsafe.parse(data)
    assert exc.value.code == code
    assert exc.value.message_vi
    assert exc.value.message_vi != exc.value.message_en


def _stream(data: bytes) -> None:
    parser = xmlsafe.feed_parser(_Null())
    xmlsafe.check_prolog(data[:65536])
    try:
        parser.feed(data)
        parser.close()
    except Exception as exc:
        from lxml import etree

        if isinstance(exc, etree.XMLSyntaxError):
            raise xmlsafe.syntax_error(exc) from exc
        raise


class _Null:
    def start(self, tag: str, attrib: object) -> None: ...
    def end(self, tag: str) -> None: ...
    def data(self, data: str) -> None: ...
    def close(self) -> None: ...


@pytest.mark.parametrize(("name", "code"), sorted(EXPECTED.items()))
def test_streaming_paths_refuse_with_code(name: str, code: str) -> None:
    data = (ATTACKS / name).read_bytes()
    with pytest.raises(XmlError) as exc:
        list(iter_attachments(data))
    assert exc.value.code == code
    with pytest.raises(XmlError) as exc2:
        _stream_tree([data])
    assert exc2.value.code == code


def test_xinclude_is_not_processed() -> None:
    root = xmlsafe.parse((ATTACKS / "xinclude.xml").read_bytes())
    assert b"root:" not in xmlsafe.etree.tostring(root)
    assert len(root) == 1  # the xi:include element is still there, unexpanded


def test_oversize_is_refused_before_parsing() -> None:
    with pytest.raises(XmlError) as exc:
        xmlsafe.parse(b"<r>" + b"x" * 2000 + b"</r>", max_bytes=1000)
    assert exc.value.code == "xml.too_large"
    with pytest.raises(XmlError) as exc:
        list(iter_attachments(make_edoc(), max_bytes=1000))
    assert exc.value.code == "xml.too_large"


def test_doctype_hidden_behind_a_long_prolog_is_refused() -> None:
    doc = make_edoc()
    cut = doc.index(b"?>") + 2
    dtd = b'<!DOCTYPE edXML [<!ENTITY a "aaaaaaaaaa">]>'
    for pad in (b"<!--" + b"x" * 70_000 + b"-->", b" " * 70_000, b"<!--x-->" * 10_000):
        evil = doc[:cut] + pad + dtd + doc[cut:]
        for parse in (
            xmlsafe.parse,
            lambda d: list(iter_attachments(d)),
            lambda d: _stream_tree([d]),
        ):
            with pytest.raises(XmlError) as exc:
                parse(evil)
            assert exc.value.code in ("xml.limit", "xml.doctype")


def test_streaming_target_refuses_doctype_even_without_prolog_check() -> None:
    from hub.edxml.attachments import _Target

    parser = xmlsafe.feed_parser(_Target(True, 10))
    with pytest.raises(XmlError) as exc:
        parser.feed(b'<!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>')
    assert exc.value.code == "xml.doctype"


def test_syntax_error_carries_line() -> None:
    with pytest.raises(XmlError) as exc:
        xmlsafe.parse(b"<r>\n<a>\n</b></r>")
    assert exc.value.line == 3


def test_bom_utf8_is_accepted() -> None:
    assert xmlsafe.parse(b"\xef\xbb\xbf<?xml version='1.0' encoding='utf-8'?><r/>").tag == "r"


@pytest.fixture
def listener() -> Iterator[list[bytes]]:
    """A local TCP listener recording any connection (none may come)."""
    hits: list[bytes] = []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.2)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            hits.append(conn.recv(100))
            conn.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    hits.append(str(srv.getsockname()[1]).encode())
    yield hits
    stop.set()
    t.join(1)
    srv.close()


def test_no_network_access_for_external_entities(listener: list[bytes]) -> None:
    port = listener[0].decode()
    evil = (
        f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/x.dtd">'
        f'<r xmlns:xi="http://www.w3.org/2001/XInclude">'
        f'<xi:include href="http://127.0.0.1:{port}/y"/></r>'
    ).encode()
    with pytest.raises(XmlError):
        xmlsafe.parse(evil)
    with pytest.raises(XmlError):
        list(iter_attachments(evil))
    xmlsafe.parse(
        evil.replace(f'<!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/x.dtd">'.encode(), b"")
    )
    assert listener[1:] == []
