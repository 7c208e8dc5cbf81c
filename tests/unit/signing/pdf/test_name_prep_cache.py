"""The memoised RFC 4518 preparation of name values prepares exactly as asn1crypto does, and
names still compare as RFC 5280 §7.1 says (case, spacing, Vietnamese text)."""

from __future__ import annotations

import pytest
from asn1crypto import x509 as asn1_x509

from signing.pdf_verify import _ORIGINAL_NAME_PREP, _cached_name_prep, install_name_prep_cache

VALUES = [
    "Cơ quan chứng thực số chuyên dùng Chính phủ",
    "  Sở   Thông tin và Truyền thông  ",
    "THỬ NGHIỆM - KHÔNG DÙNG THẬT",
    "Ban Cơ yếu Chính phủ",
    "ＦＵＬＬＷＩＤＴＨ ﬁ ligature",  # NFKC folding
    "",
    "VN",
]


@pytest.mark.parametrize("value", VALUES)
def test_the_cached_preparation_equals_asn1cryptos(value: str) -> None:
    ntv = asn1_x509.NameTypeAndValue()  # the preparation reads nothing of it
    assert _cached_name_prep(ntv, value) == _ORIGINAL_NAME_PREP(ntv, value)
    assert _cached_name_prep(ntv, value) == _ORIGINAL_NAME_PREP(ntv, value)  # from the cache


def test_names_compare_as_before_once_installed() -> None:
    install_name_prep_cache()

    def name(cn: str, org: str) -> asn1_x509.Name:
        return asn1_x509.Name.build({"common_name": cn, "organization_name": org})

    same = name("Nguyễn Văn An", "Sở Nội vụ  tỉnh Nghệ An")
    assert same == name("NGUYỄN VĂN AN", "Sở Nội vụ tỉnh Nghệ An")
    assert same != name("Nguyễn Văn Ân", "Sở Nội vụ tỉnh Nghệ An")
