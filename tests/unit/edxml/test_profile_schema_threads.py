"""The profile XSD under concurrent first use: the first pushes after a restart arrive
together, and libxml2 must not build (or report through) one schema in two threads at once —
seen as a 500 "Document is not valid XML Schema" in the crash test."""

from __future__ import annotations

import threading

from hub.edxml import profile_schema as ps
from hub.edxml.reader import parse_package
from tests.factories import make_edoc


def test_eight_threads_validate_at_once_from_a_cold_cache() -> None:
    parsed = parse_package(make_edoc())
    for _ in range(5):
        ps._load_profile_schema.cache_clear()
        errors, found = _race(parsed.root)
        assert errors == []
        assert found == [0] * 8


def _race(root: object) -> tuple[list[BaseException], list[int]]:
    errors: list[BaseException] = []
    found: list[int] = []
    barrier = threading.Barrier(8)

    def validate() -> None:
        barrier.wait()
        try:
            found.append(len(list(ps.schema_problems(root))))  # type: ignore[arg-type]
        except BaseException as exc:  # kept for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=validate) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors, found
