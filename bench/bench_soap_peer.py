"""What a ``soap`` peer costs the hub: building it, and each operation by package size.

Run from the repository root::

    . .venv/bin/activate
    PYTHONPATH=. python bench/bench_soap_peer.py [--n 30] [--rounds 3]

The spyne test service (``tests/integration/peers/soap_service.py``) runs in a child process on
loopback, so the client CPU column (``time.process_time`` of this process) is the adapter's own
cost — zeep building and reading envelopes, base64, lxml — and not the server's. The wall
column includes the spyne server (lxml-validated, pure Python, on the same two shared cores):
it says what this machine does end to end, not what a production SOAP hub would answer.

Measured per package size (an edoc with one attachment of that many random bytes):
``send`` (SendDocument), ``traces`` (GetTraces, via ``delivery_states``), ``pending``
(GetPendingDocumentIds, one item listed), ``fetch`` (GetDocument), and the whole inbound round
trip (the province sends, this hub lists, fetches and acknowledges: four calls, one of them the
province's).
Figures are medians over ``--rounds`` rounds of ``--n`` operations.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from adapters.peers import build_peer
from adapters.peers.soap import SoapHubClient
from hub.edxml.model import MessageKind
from hub.ports import Peer
from hub.routing import Scope
from hub.settings import PeerSettings, Secret
from tests.factories import make_edoc, pdf_attachment

SIZES = (4_000, 100_000, 1_000_000)
HUB, HUB_SECRET, H41 = "lienthong.h41", "bench-hub-secret", "000.00.00.H41"
REMOTE, REMOTE_SECRET, H14 = "qlvb.h14", "bench-remote-secret", "000.00.00.H14"


def _start_service() -> subprocess.Popen[str]:
    """The service in a child process (``soap_service.main``); its endpoint is on stdout."""
    service = Path(__file__).resolve().parents[1] / "tests/integration/peers/soap_service.py"
    return subprocess.Popen(
        [
            sys.executable,
            str(service),
            f"--account={HUB}:{HUB_SECRET}:{H41}",
            f"--account={REMOTE}:{REMOTE_SECRET}:{H14}",
            f"--organization={H41}=UBND Tỉnh Nghệ An",
            f"--organization={H14}=UBND Tỉnh Cao Bằng",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _settings(endpoint: str) -> PeerSettings:
    return PeerSettings(
        name="bkav-h14",
        endpoint=endpoint,
        scope=Scope.parse(["H14"]),
        system_id=HUB,
        secret=Secret(HUB_SECRET),
        kind="soap",
    )


def _measure(n: int, rounds: int, op: Callable[[], object]) -> tuple[float, float]:
    """(wall ms, client CPU ms) per call: medians over ``rounds`` of ``n`` calls."""
    walls, cpus = [], []
    for _ in range(rounds):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            op()
        walls.append((time.perf_counter() - w0) / n * 1000)
        cpus.append((time.process_time() - c0) / n * 1000)
    return statistics.median(walls), statistics.median(cpus)


def _rows(
    peer: Peer, remote: SoapHubClient, size: int, n: int, rounds: int
) -> list[tuple[str, tuple[float, float]]]:
    """The operations at one attachment size."""
    inbox, tracker = peer.inbox, peer.tracker
    assert inbox is not None
    assert tracker is not None
    package = make_edoc(sender=H41, to=[H14], attachments=[pdf_attachment(data=os.urandom(size))])
    sent: list[str] = []

    def send() -> None:
        sent.append(peer.link.send(package, from_code=H41, to_codes=[H14], kind=MessageKind.EDOC))

    def inbound() -> None:
        remote.send(package, from_code=H14, to_codes=[H41], kind=MessageKind.EDOC)

    def round_trip() -> None:
        inbound()
        (one,) = inbox.pending(MessageKind.EDOC)
        inbox.fetch(one)
        inbox.acknowledge(one, accepted=True)

    rows = [("send", _measure(n, rounds, send))]
    rows.append(("traces", _measure(n, rounds, lambda: tracker.delivery_states(sent[-1]))))
    inbound()
    (item,) = inbox.pending(MessageKind.EDOC)
    rows.append(
        ("pending (1 listed)", _measure(n, rounds, lambda: inbox.pending(MessageKind.EDOC)))
    )
    rows.append(("fetch", _measure(n, rounds, lambda: inbox.fetch(item))))
    inbox.acknowledge(item, accepted=True)
    rows.append(("inbound: their send + pending + fetch + ack", _measure(n, rounds, round_trip)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    child = _start_service()
    assert child.stdout is not None
    assert child.stdin is not None
    endpoint = child.stdout.readline().strip()
    peers: list[Peer] = []
    remote = SoapHubClient(endpoint, username=REMOTE, secret=REMOTE_SECRET)
    try:
        wall, cpu = _measure(5, args.rounds, lambda: peers.append(build_peer(_settings(endpoint))))
        print(f"build_peer (WSDL load, zeep client): {wall:.1f} ms wall, {cpu:.1f} ms CPU")
        print("| operation | package | wall ms/op | client CPU ms/op |")
        print("|---|---:|---:|---:|")
        for size in SIZES:
            label = f"{size // 1000:,} KB attachment"
            for name, (wall, cpu) in _rows(peers[0], remote, size, args.n, args.rounds):
                print(f"| {name} | {label} | {wall:.1f} | {cpu:.1f} |")
    finally:
        remote.close()
        for p in peers:
            p.close()
        child.stdin.close()
        child.wait(timeout=10)


if __name__ == "__main__":
    main()
