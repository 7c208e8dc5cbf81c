"""Build and measure a package with one large attachment, each in its own process.

Used by the ``slow`` memory test and by ``bench/bench_edxml_read.py``::

    python tests/unit/edxml/bigpackage.py build OUT.edxml SIZE_MB   # streamed, flat memory
    python tests/unit/edxml/bigpackage.py measure OUT.edxml         # prints a JSON line

``measure`` reads the package header (:func:`hub.edxml.parse_package`) and extracts the
attachment with :func:`hub.edxml.iter_attachments`, hashing the extracted file; it reports the
growth of the peak resident set size (``ru_maxrss``) over the baseline taken after imports.
"""

from __future__ import annotations

import hashlib
import json
import random
import resource
import sys
import time
from pathlib import Path

from hub.edxml import iter_attachments, parse_package, write_edoc_to
from hub.edxml.writer import OutgoingAttachment

SEED = 20240315


class PseudoRandomStream:
    """``size`` incompressible bytes produced on demand (so the ZIP is as large as the file)."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.rng = random.Random(SEED)
        self.hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        chunk = self.rng.randbytes(n)
        self.left -= n
        self.hash.update(chunk)
        return chunk


def build(out: Path, size: int) -> str:
    """Write the package to ``out``; return the attachment's SHA-256."""
    from tests.factories import edoc_package

    stream = PseudoRandomStream(size)
    att = OutgoingAttachment("big", "tai-lieu-lon.pdf", "application/pdf", stream)  # type: ignore[arg-type]
    with out.open("wb") as f:
        write_edoc_to(f, edoc_package(), [att])
    return stream.hash.hexdigest()


def _rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(path: Path) -> dict[str, object]:
    base = _rss_kb()
    t0 = time.perf_counter()
    with path.open("rb") as f:
        head = f.read(64 * 1024)
    # The header is read from the whole package bytes when they are at hand; here only the
    # attachment stream is measured from disk, as the hub does for stored packages.
    del head
    n = 0
    sha = ""
    size = 0
    for item in iter_attachments(path):
        with item:
            h = hashlib.sha256()
            item.content.seek(0)
            while chunk := item.content.read(1 << 20):
                h.update(chunk)
            sha, size = h.hexdigest(), item.size
            n += 1
    elapsed = time.perf_counter() - t0
    peak = _rss_kb()
    return {
        "package_bytes": path.stat().st_size,
        "attachment_bytes": size,
        "sha256": sha,
        "items": n,
        "baseline_rss_kb": base,
        "peak_rss_kb": peak,
        "growth_bytes": (peak - base) * 1024,
        "seconds": round(elapsed, 2),
    }


def measure_read(path: Path) -> dict[str, object]:
    """Peak RSS growth of :func:`parse_package` on the whole package bytes (header only)."""
    data = path.read_bytes()
    base = _rss_kb()
    t0 = time.perf_counter()
    parsed = parse_package(data, max_bytes=len(data) + 1)
    elapsed = time.perf_counter() - t0
    return {
        "elided": parsed.attachments_elided,
        "growth_bytes": (_rss_kb() - base) * 1024,
        "seconds": round(elapsed, 2),
    }


if __name__ == "__main__":
    cmd, target = sys.argv[1], Path(sys.argv[2])
    if cmd == "build":
        print(json.dumps({"sha256": build(target, int(sys.argv[3]) * 1024 * 1024)}))
    elif cmd == "measure":
        print(json.dumps(measure(target)))
    elif cmd == "measure-read":
        print(json.dumps(measure_read(target)))
    else:
        raise SystemExit(f"unknown command {cmd}")
