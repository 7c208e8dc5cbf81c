"""The faster hex-string reader gives exactly what pyHanko's own reader gives."""

from __future__ import annotations

import random
from io import BytesIO

import pytest
from pyhanko.pdf_utils.misc import PdfStreamError

from signing.pdf_verify import _ORIGINAL_READ_HEX, _fast_read_hex_string

CASES = [
    b"<>",
    b"<4142>",
    b"<414>",  # odd: a trailing 0 is implied (ISO 32000-1 §7.3.4.3)
    b"<41 42\n43\r\n\t44\x0c>",
    b"<AbCdEf0189> trailing",
    b"<41%comment\n42>",  # not plain hex: handed to pyHanko
    b"<" + b"00" * 40000 + b">",
]


@pytest.mark.parametrize("data", CASES)
def test_same_value_and_same_position(data: bytes) -> None:
    a, b = BytesIO(data), BytesIO(data)
    assert _fast_read_hex_string(a) == _ORIGINAL_READ_HEX(b)
    assert a.tell() == b.tell()


def test_random_hex_with_whitespace() -> None:
    rng = random.Random(7)
    for _ in range(200):
        body = bytes(rng.choice(b"0123456789abcdefABCDEF \n\r\t") for _ in range(rng.randrange(60)))
        data = b"<" + body + b">rest"
        a, b = BytesIO(data), BytesIO(data)
        assert _fast_read_hex_string(a) == _ORIGINAL_READ_HEX(b)
        assert a.tell() == b.tell()


@pytest.mark.parametrize("data", [b"<41G2>", b"<4142"])
def test_bad_input_raises_as_pyhanko_does(data: bytes) -> None:
    with pytest.raises(PdfStreamError):
        _ORIGINAL_READ_HEX(BytesIO(data))
    with pytest.raises(PdfStreamError):
        _fast_read_hex_string(BytesIO(data))
