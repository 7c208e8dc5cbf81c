"""X.509 names compared with the memoised string preparation (``install_name_prep_cache``)
answer exactly what asn1crypto's own preparation answers, over names that differ in encoding,
case, spaces and order."""

from __future__ import annotations

import itertools

import pytest
from asn1crypto import x509 as asn1_x509

from signing.pdf_verify import _ORIGINAL_NAME_PREP, install_name_prep_cache


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


def _fresh(name: asn1_x509.Name) -> asn1_x509.Name:
    """A new parse: asn1crypto keeps each value's prepared form on the parsed object."""
    return asn1_x509.Name.load(name.dump())


def _equal_with_original_preparation(x: asn1_x509.Name, y: asn1_x509.Name) -> bool:
    cached = asn1_x509.NameTypeAndValue._ldap_string_prep
    asn1_x509.NameTypeAndValue._ldap_string_prep = _ORIGINAL_NAME_PREP  # type: ignore[method-assign]
    try:
        return bool(_fresh(x) == _fresh(y))
    finally:
        asn1_x509.NameTypeAndValue._ldap_string_prep = cached  # type: ignore[method-assign]


@pytest.mark.parametrize(("a", "b"), list(itertools.product(range(len(NAMES)), repeat=2)))
def test_same_answer_as_asn1crypto(a: int, b: int) -> None:
    install_name_prep_cache()
    x, y = NAMES[a], NAMES[b]
    assert (_fresh(x) == _fresh(y)) == _equal_with_original_preparation(x, y)
    assert (_fresh(x) == _fresh(y)) == (_fresh(x) == _fresh(y))  # from the cache the second time


def test_some_pairs_differ_in_encoding_but_are_equal() -> None:
    """The cases that need the string preparation are really exercised above."""
    install_name_prep_cache()
    assert NAMES[0].dump() != NAMES[1].dump()
    assert _equal_with_original_preparation(NAMES[0], NAMES[1])
    assert _fresh(NAMES[0]) == _fresh(NAMES[1])
    assert _fresh(NAMES[8]) == _fresh(NAMES[9])
    assert _fresh(NAMES[0]) != _fresh(NAMES[3])
