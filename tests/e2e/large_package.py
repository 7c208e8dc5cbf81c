"""Packages with one large attachment, written to a file on the fly (never committed).

Used by ``test_large_package.py`` and ``bench/bench_large.py``: :func:`build_package` streams
a package with ``size`` incompressible attachment bytes into a file (flat memory), and
:func:`trace_inserted` checks a pulled copy against the pushed bytes without a byte loop.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from hub.edxml import write_edoc_to
from hub.edxml.writer import OutgoingAttachment
from tests.factories import edoc_package
from tests.unit.edxml.bigpackage import PseudoRandomStream


def build_package(out: Path, size: int, *, sender: str, to: list[str], number: str) -> str:
    """Write an edoc from ``sender`` to ``to`` with a ``size``-byte attachment into ``out``;
    return the SHA-256 of the package file."""
    stream = PseudoRandomStream(size)
    att = OutgoingAttachment("big", "tai-lieu-lon.bin", "application/octet-stream", stream)  # type: ignore[arg-type]
    package = edoc_package(sender=sender, to=to, code_number=number)
    with out.open("wb") as f:
        write_edoc_to(f, package, [att])
    h = hashlib.sha256()
    with out.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def trace_inserted(sent: bytes, got: bytes) -> bytes:
    """The one run of bytes the hub inserted into ``sent`` to give ``got`` (its TraceHeader);
    fails when any byte of ``sent`` was changed or lost."""
    extra = len(got) - len(sent)
    assert extra > 0, "nothing was inserted"
    lo, hi = 0, len(sent)  # longest common prefix, by halving (each test is one memcmp)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if got[:mid] == sent[:mid]:
            lo = mid
        else:
            hi = mid - 1
    assert got[lo + extra :] == sent[lo:], "the hub changed bytes of the package, not only added"
    return got[lo : lo + extra]
