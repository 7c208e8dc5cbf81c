"""Throughput of the edXML reader and attachment stream on one core, and peak memory of a 100 MB
attachment extraction.

Run from the repository root::

    .venv/bin/python bench/bench_edxml_read.py            # all figures
    .venv/bin/python bench/bench_edxml_read.py --no-big   # skip the 100 MB package

Figures are medians of 5 rounds, in calls per CPU-second of the benchmark process (pinned to one
CPU), so that other processes on a shared machine do not count against it. The bare hardened parse
of the same bytes is measured in the same run as a baseline, and the load average is recorded.
Results are recorded in ``bench/RESULTS-edxml.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub import xmlsafe  # noqa: E402
from hub.edxml import (  # noqa: E402
    OutgoingAttachment,
    append_trace,
    iter_attachments,
    parse_package,
    read,
)
from tests.factories import edoc_package, make_edoc, make_status  # noqa: E402


def rate(fn: Callable[[], object], n: int, rounds: int = 5) -> float:
    """Median calls per CPU-second of this process over ``rounds`` rounds of ``n`` calls.

    CPU time, not wall time: on a shared 2-core machine other processes preempt this one, and
    wall-clock rates then measure the neighbours. One process, one thread: calls per CPU-second
    is the one-core throughput.
    """
    fn()
    out = []
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        out.append(n / (time.process_time() - t0))
    return round(statistics.median(out))


def status_4k() -> bytes:
    desc = "Văn thư - Phòng Văn thư - Lưu trữ: Đã tiếp nhận, vào sổ văn bản đến. " * 36
    data = make_status(status_code="03", description=desc.strip())
    return data


def edoc_400k() -> bytes:
    payload = random.Random(1).randbytes(300 * 1024)  # incompressible: base64 ≈ 400 KB
    att = OutgoingAttachment("1", "van-ban.pdf", "application/pdf", payload)
    return make_edoc(attachments=[att])


def full_decode(data: bytes) -> None:
    parse_package(data)
    for item in iter_attachments(data):
        item.close()


def big(size_mb: int) -> dict[str, object]:
    script = ROOT / "tests" / "unit" / "edxml" / "bigpackage.py"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.edxml"

        def run(*args: str) -> dict[str, object]:
            out = subprocess.run(
                [sys.executable, str(script), *args],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            )
            return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

        t0 = time.perf_counter()
        run("build", str(path), str(size_mb))
        built = time.perf_counter() - t0
        extract = run("measure", str(path))
        header = run("measure-read", str(path))
    return {"build_seconds": round(built, 2), "extract": extract, "header_read": header}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-big", action="store_true")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    status = status_4k()
    edoc = edoc_400k()
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    results = {
        "status_bytes": len(status),
        "edoc_bytes": len(edoc),
        "load_average_before": os.getloadavg()[0],
        "baseline_parse_status_per_s": rate(lambda: xmlsafe.parse(status), 20_000),
        "read_status_per_s": rate(lambda: read(status), 20_000),
        "baseline_parse_edoc_400k_per_s": rate(lambda: xmlsafe.parse(edoc), 1_000),
        "read_edoc_400k_per_s": rate(lambda: read(edoc), 1_000),
        "read_edoc_400k_plus_decode_per_s": rate(lambda: full_decode(edoc), 300),
        "append_trace_status_per_s": rate(lambda: append_trace(status, "H", when), 20_000),
        "append_trace_edoc_400k_per_s": rate(lambda: append_trace(edoc, "H", when), 5_000),
        "write_edoc_default_per_s": rate(lambda: make_edoc(), 2_000),
    }
    results["load_average_after"] = os.getloadavg()[0]
    assert edoc_package().header == read(make_edoc()).header  # type: ignore[union-attr]
    if not args.no_big:
        results["big_100mb"] = big(100)
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
