"""What an LGSP peer costs per call: the bearer token cached vs fetched, and a whole exchange.

Run from the repository root::

    . .venv/bin/activate
    PYTHONPATH=. python bench/bench_lgsp.py [--n 300] [--rounds 3]

The gateway is the test gateway of ``tests/integration/peers/lgsp_server.py`` (oauthlib issuing
real tokens, Starlette routes, uvicorn) on 127.0.0.1, in the same process as the client: the
figures are latency-bound rates of one client thread sharing the interpreter with its server,
a floor for a real deployment, not a ceiling. Modes:

* ``GET /vanbans, token cached`` — what polling costs once a token is held;
* ``GET /vanbans, token fetched each call`` — the token dropped before every call (what a
  client without a cache would pay: one ``POST /token`` more per call);
* ``exchange`` — one ~40 KB edXML package (one PDF attachment) sent by one client, then listed,
  fetched (bytes checked) and acknowledged by the other: five API calls.

Figures are medians over ``--rounds`` rounds of ``--n`` operations; the client CPU column
(``time.process_time``) includes the in-process server's CPU.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from collections.abc import Callable

import httpx

from adapters.peers.lgsp import LgspClient
from hub.edxml.model import MessageKind
from tests.factories import make_edoc, make_pdf_bytes, pdf_attachment
from tests.integration.peers.lgsp_server import LgspGateway

G22, H41 = "000.00.00.G22", "000.00.00.H41"


def measure(op: Callable[[], None], n: int, rounds: int) -> tuple[float, float]:
    """Median operations per second (wall) and median client CPU µs per operation."""
    rates, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            op()
        rates.append(n / (time.perf_counter() - wall))
        cpus.append((time.process_time() - cpu) / n * 1e6)
    return statistics.median(rates), statistics.median(cpus)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="operations per round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)

    pdf = make_pdf_bytes(secrets.token_hex(30_000))  # random text: the ZIP cannot shrink it much
    data = make_edoc(sender=G22, to=[H41], attachments=[pdf_attachment(data=pdf)])
    print(f"python {sys.version.split()[0]}, httpx {httpx.__version__}, n={args.n}")
    print(f"package {len(data):,} bytes")
    print("| mode | per second (wall) | client+server CPU µs per op | token requests |")
    print("|---|---:|---:|---:|")
    with LgspGateway(token_lifetime_s=3600) as gateway:
        gateway.add_client("hub", "hub-secret", agencies=[H41])
        gateway.add_client("qlvb", "qlvb-secret", agencies=[G22])
        url, token_url = gateway.api_url, gateway.token_url
        with (
            LgspClient("bench", url, "hub", "hub-secret", token_url=token_url) as hub,
            LgspClient("bench", url, "qlvb", "qlvb-secret", token_url=token_url) as qlvb,
        ):

            def poll() -> None:
                hub.pending(MessageKind.EDOC)

            def poll_fresh_token() -> None:
                hub.tokens.invalidate(hub.tokens.token())
                hub.pending(MessageKind.EDOC)

            def exchange() -> None:
                qlvb.send(data, from_code=G22, to_codes=[H41], kind=MessageKind.EDOC)
                (item,) = hub.pending(MessageKind.EDOC)
                if hub.fetch(item) != data:
                    raise AssertionError("fetched bytes differ")
                hub.acknowledge(item, accepted=True)
                hub.pending(MessageKind.EDOC)

            for label, op in (
                ("GET /vanbans, token cached", poll),
                ("GET /vanbans, token fetched each call", poll_fresh_token),
                ("exchange (send, list, fetch, ack, list)", exchange),
            ):
                before = gateway.token_requests["hub"]
                rate, cpu = measure(op, args.n, args.rounds)
                tokens = gateway.token_requests["hub"] - before
                print(f"| {label} | {rate:,.0f} | {cpu:,.0f} | {tokens} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
