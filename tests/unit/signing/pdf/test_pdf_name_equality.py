"""The cached X.509 name comparison answers exactly what asn1crypto's own comparison answers,
and ``PdfVerifier.verify`` reuses its thread's event loop."""

from __future__ import annotations

import itertools
import threading

import pytest
from asn1crypto import x509 as asn1_x509

from signing.pdf_verify import _ORIGINAL_NAME_EQ, _name_eq, _thread_runner


def _name(rdns: list[list[tuple[str, str, str]]]) -> asn1_x509.Name:
    """A name from RDNs of (type, string kind, value): kind "utf8" or "printable"."""
    seq = []
    for rdn in rdns:
        values = []
        for type_, kind, value in rdn:
            dir_string = asn1_x509.DirectoryString(
                name="utf8_string" if kind == "utf8" else "printable_string", value=value
            )
            values.append({"type": type_, "value": dir_string})
        seq.append(asn1_x509.RelativeDistinguishedName(values))
    # Reparsed, as names arrive inside certificates and CMS structures.
    return asn1_x509.Name.load(asn1_x509.Name(name="", value=asn1_x509.RDNSequence(seq)).dump())


NAMES = [
    _name([[("country_name", "printable", "VN")], [("common_name", "utf8", "Sở Nội vụ")]]),
    _name([[("country_name", "printable", "VN")], [("common_name", "utf8", "sở  nội vụ")]]),
    _name([[("country_name", "utf8", "VN")], [("common_name", "utf8", "Sở Nội vụ")]]),
    _name([[("country_name", "printable", "VN")], [("common_name", "utf8", "Sở Nội vụ X")]]),
    _name([[("common_name", "utf8", "Sở Nội vụ")], [("country_name", "printable", "VN")]]),
    _name([[("country_name", "printable", "VN"), ("common_name", "utf8", "A")]]),
    _name([[("common_name", "utf8", "A"), ("country_name", "printable", "VN")]]),
    _name([[("country_name", "printable", "VN")]]),
    _name([[("organization_name", "printable", "Bo Noi vu")]]),
    _name([[("organization_name", "utf8", "BO NOI VU ")]]),
]


@pytest.mark.parametrize(("a", "b"), list(itertools.product(range(len(NAMES)), repeat=2)))
def test_same_answer_as_asn1crypto(a: int, b: int) -> None:
    x, y = NAMES[a], NAMES[b]
    assert _name_eq(x, y) == bool(_ORIGINAL_NAME_EQ(x, y))
    assert _name_eq(x, y) == _name_eq(x, y)  # from the cache the second time


def test_some_pairs_differ_in_encoding_but_are_equal() -> None:
    """The cases that need the string preparation are really exercised above."""
    assert NAMES[0].dump() != NAMES[1].dump()
    assert _ORIGINAL_NAME_EQ(NAMES[0], NAMES[1])
    assert _name_eq(NAMES[8], NAMES[9])
    assert not _name_eq(NAMES[0], NAMES[3])
    assert not _name_eq(NAMES[0], "not a name")


def test_one_event_loop_per_thread() -> None:
    mine = _thread_runner()
    assert _thread_runner() is mine
    other: list[object] = []
    t = threading.Thread(target=lambda: other.append(_thread_runner()))
    t.start()
    t.join()
    assert other[0] is not mine
