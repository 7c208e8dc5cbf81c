"""What a console login costs: argon2id hashing at the stored parameters, and a whole login
(throttle check, verify, session row) plus a session check, on SQLite and PostgreSQL.

    python bench/bench_accounts.py --n 20 [--backends sqlite,postgresql]

* ``argon2id hash`` / ``verify`` — :class:`adapters.passwords.Argon2Hasher` with its defaults
  (RFC 9106's second option: 64 MiB, 3 passes, 4 lanes): the CPU and memory one password
  guess costs the hub, the bound on how many guesses a core answers per second;
* ``login`` — :meth:`Accounts.login` with the right password (what a person waits for);
* ``session check, database`` — :meth:`Accounts.operator` past its cache (each page view at most
  every 5 s per process), ``cached`` — within it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from adapters.memory import ManualClock
from adapters.passwords import Argon2Hasher
from adapters.store.engine import create_engine
from adapters.store.migrate import upgrade
from adapters.store.operators import SqlOperatorStore
from hub.services.accounts import AccountPolicy, Accounts

PG = os.environ.get("LIENTHONG_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "mot-mat-khau-du-dai-1"


def _ms(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), max(times)


@contextmanager
def _engine(backend: str) -> Iterator[sa.Engine]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as d:
            engine = create_engine(f"sqlite:///{Path(d) / 'hub.db'}")
            upgrade(engine)
            yield engine
            engine.dispose()
        return
    name = f"lienthong_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(sa.make_url(PG).set(database=name).render_as_string(False))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _backend(backend: str, hasher: Argon2Hasher, n: int) -> None:
    with _engine(backend) as engine:
        ticks = [0.0]
        accounts = Accounts(
            SqlOperatorStore(engine),
            hasher,
            ManualClock(),
            lambda *a, **k: None,
            AccountPolicy(),
            monotonic=lambda: ticks[0],
        )
        accounts.add("ana", "operator", PASSWORD, actor="bench")
        values: list[str] = []

        def login() -> None:
            result = accounts.login("ana", PASSWORD, address="10.0.0.1")
            assert result.session is not None
            values.append(result.session)

        med, worst = _ms(login, n)
        print(f"| login | {backend} | {med:.1f} | {worst:.1f} |")

        def check_db() -> None:
            ticks[0] += 10  # past the cache
            assert accounts.operator(values[0]) is not None

        med, worst = _ms(check_db, n * 10)
        print(f"| session check, database | {backend} | {med:.2f} | {worst:.2f} |")
        med, worst = _ms(lambda: accounts.operator(values[0]), n * 10)
        print(f"| session check, cached | {backend} | {med:.3f} | {worst:.3f} |")


def _load() -> str:
    return Path("/proc/loadavg").read_text().strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    hasher = Argon2Hasher()
    stored = hasher.hash(PASSWORD)
    print(f"load before: {_load()}")
    print("| step | backend | median ms | max ms |\n|---|---|---:|---:|")
    med, worst = _ms(lambda: hasher.hash(PASSWORD), args.n)
    print(f"| argon2id hash | - | {med:.1f} | {worst:.1f} |")
    med, worst = _ms(lambda: hasher.verify(stored, PASSWORD), args.n)
    print(f"| argon2id verify | - | {med:.1f} | {worst:.1f} |")
    for backend in args.backends.split(","):
        _backend(backend, hasher, args.n)
    print(f"load after: {_load()}")


if __name__ == "__main__":
    main()
