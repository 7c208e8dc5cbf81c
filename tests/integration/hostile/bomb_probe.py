"""Push one zip bomb through a real hub's VXP façade in a fresh process and report its cost.

Run as a script (``python bomb_probe.py DATA_DIR KIND INFLATED_BYTES``) by
``test_hostile_server.py`` and for ``bench/RESULTS-hostile-input.md``: a process of its own, so
nothing else shares the memory figures. Prints one JSON line: the HTTP status and reply, the
RSS before the push and its peak during it (the peak is reset first), the tracemalloc peak of
the push, its wall time, and the largest file the push left in the data dir or the temp dir.

``KIND`` is ``zeros`` (an entry of NUL bytes), ``pdf`` (the same behind a ``%PDF-`` header, so
the PDF signature verifier opens it too) or ``pdf-trailer`` (and a forged ``startxref … %%EOF``
trailer at the end, so the verifier's parser gets past the end of the file). The bomb is
written from a lazy stream of zeros: the probe never holds the inflated bytes itself.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path


def _largest_file(*roots: Path) -> int:
    sizes = [0]
    for root in roots:
        for p in root.rglob("*"):
            try:
                if p.is_file():
                    sizes.append(p.stat().st_size)
            except OSError:  # a temp file of another process vanished meanwhile
                continue
    return max(sizes)


class Zeros(io.RawIOBase):
    """``prefix`` then NUL bytes up to ``size``, made as read: the bomb is never held whole."""

    def __init__(self, size: int, prefix: bytes = b"", suffix: bytes = b"") -> None:
        self.left = size
        self.prefix = prefix
        self.suffix = suffix

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        view = memoryview(buffer)
        view[:n] = b"\0" * n
        head = self.prefix[:n]
        view[: len(head)] = head
        self.prefix = self.prefix[len(head) :]
        self.left -= n
        if n == 0 and self.suffix:  # the zeros are out: the suffix, then EOF
            n = min(len(buffer), len(self.suffix))
            view[:n] = self.suffix[:n]
            self.suffix = self.suffix[n:]
        return n


def _status_kib(field: str) -> int:
    """A ``/proc/self/status`` memory figure (``VmRSS``, ``VmHWM``) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def _reset_peak() -> None:
    """Reset the peak RSS (``VmHWM``) to the current RSS (Linux ``clear_refs`` value 5), so the
    peak read after the push is the push's own."""
    Path("/proc/self/clear_refs").write_text("5")


def main(data_dir: str, kind: str, inflated: int) -> None:
    from fastapi.testclient import TestClient
    from hostile_support import real_hub

    from hub.edxml.writer import OutgoingAttachment
    from tests.factories import make_edoc

    prefix = b"%PDF-1.4\n" if kind.startswith("pdf") else b""
    suffix = b"\nstartxref\n9\n%%EOF\n" if kind == "pdf-trailer" else b""
    with real_hub(Path(data_dir)) as site:

        def package(number: str) -> bytes:
            zeros = Zeros(inflated, prefix, suffix)
            bomb = OutgoingAttachment("1", "bomb.pdf", "application/pdf", zeros)
            to = [site.b.agency]
            return make_edoc(sender=site.a.agency, to=to, attachments=[bomb], code_number=number)

        # Two copies (other numbers, so neither is a duplicate): the first is timed and its
        # peak RSS read, the second traced by tracemalloc (which slows every allocation).
        timed, traced = package("2"), package("3")
        warm = make_edoc(sender=site.a.agency, to=[site.b.agency], code_number="1")
        with TestClient(site.hub.app(), raise_server_exceptions=False) as http:
            headers = site.a.send_edoc_headers(warm, site.b.agency)
            assert http.post("/sendEdoc", headers=headers, content=warm).status_code == 200
            _reset_peak()
            before = _status_kib("VmRSS")
            started = time.perf_counter()
            headers = site.a.send_edoc_headers(timed, site.b.agency)
            r = http.post("/sendEdoc", headers=headers, content=timed)
            elapsed = time.perf_counter() - started
            peak_rss = _status_kib("VmHWM")
            tracemalloc.start()
            headers = site.a.send_edoc_headers(traced, site.b.agency)
            again = http.post("/sendEdoc", headers=headers, content=traced)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert again.status_code == r.status_code
        print(
            json.dumps(
                {
                    "status": r.status_code,
                    "reply": r.json(),
                    "package_bytes": len(timed),
                    "inflated_bytes": inflated,
                    "rss_before_kib": before,
                    "rss_peak_during_kib": peak_rss,
                    "tracemalloc_peak_bytes": peak,
                    "seconds": round(elapsed, 2),
                    "largest_file_left": _largest_file(Path(data_dir), Path(tempfile.gettempdir())),
                }
            )
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
