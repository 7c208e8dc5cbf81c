"""The message log, its CSV export and the document timeline (hub/services/message_log.py,
:meth:`Monitor.document`) over every store: the fake, SQLite and PostgreSQL (``uow_factory``
is parametrized in this folder's conftest)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from adapters.memory import ManualClock, MemoryPeer
from hub.errors import InvalidRequest
from hub.ports import NATIONAL_LINK, LogFilter
from hub.services.hub import HubServices
from hub.services.message_log import CSV_HEADER
from hub.services.monitor import Monitor
from tests.message_log_support import (
    G22,
    HOSTILE_SUBJECT,
    SO,
    SO_CODE,
    UBND,
    UBND_CODE,
    UNKNOWN,
    Scenario,
    populate,
)


@pytest.fixture
def monitor(hub: HubServices, clock: ManualClock) -> Monitor:
    return Monitor(hub.deps.uow, clock)


@pytest.fixture
def scenario(hub: HubServices, clock: ManualClock) -> Scenario:
    return populate(hub, MemoryPeer(NATIONAL_LINK), clock)


def _docs(monitor: Monitor, **where: object) -> list[tuple[str, str]]:
    page = monitor.log(LogFilter(**where), limit=500)  # type: ignore[arg-type]
    return [(d.doc_id, d.recipient_code) for d, _doc in page.rows]


def test_every_filter_returns_exactly_its_rows(monitor: Monitor, scenario: Scenario) -> None:
    s = scenario
    everything = _docs(monitor)
    assert len(everything) == 7  # a ×2, status, b, inbound, revoke ×2, and nothing twice
    assert len(set(everything)) == len(everything)
    assert set(_docs(monitor, document="H41-A")) == {
        (s.a, SO_CODE),
        (s.a, G22),
        (s.revoke, SO_CODE),
        (s.revoke, G22),
    }
    assert _docs(monitor, document=s.b) == [(s.b, UNKNOWN)]  # the hub's DocId works too
    assert _docs(monitor, code="12/QĐ-UBND") == [(s.b, UNKNOWN)]
    assert _docs(monitor, code="QĐ-UBND") == [(s.b, UNKNOWN)]
    assert _docs(monitor, code="12") == [(s.b, UNKNOWN)]
    assert _docs(monitor, code="12/VPCP-TTĐT") == []
    assert {d for d, _ in _docs(monitor, sender=UBND_CODE)} == {s.a, s.b, s.revoke}
    assert {d for d, _ in _docs(monitor, sender=SO)} == {s.status}  # by system id too
    assert {d for d, _ in _docs(monitor, sender=G22)} == {s.inbound}
    assert {d for d, _ in _docs(monitor, recipient=G22)} == {s.a, s.revoke}
    assert _docs(monitor, state="undeliverable") == [(s.b, UNKNOWN)]
    assert _docs(monitor, status="03") == [(s.a, SO_CODE)]
    assert _docs(monitor, status="03", recipient=G22) == []
    assert _docs(monitor, sender="000.00.00.H4") == []  # exact, never a prefix


def test_date_range_is_half_open_on_creation(
    monitor: Monitor, scenario: Scenario, clock: ManualClock
) -> None:
    [b] = monitor.log(LogFilter(document=scenario.b)).rows
    at = b[0].created_at
    assert _docs(monitor, since=at, until=at + dt.timedelta(seconds=1)) == [(scenario.b, UNKNOWN)]
    assert (scenario.b, UNKNOWN) not in _docs(monitor, until=at)
    assert _docs(monitor, since=clock.now() + dt.timedelta(seconds=1)) == []


def test_pages_cover_the_log_once_and_do_not_move_when_more_arrives(
    monitor: Monitor, scenario: Scenario, hub: HubServices, clock: ManualClock
) -> None:
    whole = _docs(monitor)
    first = monitor.log(LogFilter(), limit=3)
    assert first.next_cursor is not None
    clock.advance(5)
    hub.push(UBND, _new_edoc())  # arrives between two clicks
    seen = [(d.doc_id, d.recipient_code) for d, _ in first.rows]
    cursor: str | None = first.next_cursor
    while cursor is not None:
        page = monitor.log(LogFilter(), cursor=cursor, limit=3)
        seen += [(d.doc_id, d.recipient_code) for d, _ in page.rows]
        cursor = page.next_cursor
    assert seen == whole
    rows = monitor.log(LogFilter()).rows
    assert [d.created_at for d, _ in rows] == sorted((d.created_at for d, _ in rows), reverse=True)
    with pytest.raises(InvalidRequest):
        monitor.log(LogFilter(), cursor="not-a-cursor")


def _new_edoc() -> bytes:
    from tests.factories import make_edoc

    return make_edoc(sender=UBND_CODE, to=[SO_CODE], document_id="H41-LATE", code_number="1")


def test_csv_has_bom_header_vietnamese_and_no_formula(monitor: Monitor, scenario: Scenario) -> None:
    data = b"".join(monitor.log_csv(LogFilter(sender=UBND_CODE)))
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8"))))
    assert tuple(rows[0]) == CSV_HEADER
    body = [dict(zip(CSV_HEADER, r, strict=True)) for r in rows[1:]]
    assert len(body) == 5  # a ×2, b, revoke ×2
    b = next(r for r in body if r["doc_id"] == scenario.b)
    assert b["subject"] == "'" + HOSTILE_SUBJECT  # Excel shows it, never runs it
    assert (b["code_number"], b["code_notation"]) == ("12", "QĐ-UBND")
    assert b["state"] == "undeliverable"
    assert b["state_vi"].startswith("Không chuyển được")
    assert b["created_at"].endswith("+07:00")
    local = next(r for r in body if r["delivery_id"] == scenario.a_local)
    assert (local["business_status"], local["recipient_code"]) == ("03", SO_CODE)
    assert local["subject"] == "V/v triển khai văn bản điện tử"


def test_csv_export_streams_page_by_page(
    hub: HubServices, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.services import message_log

    chunks = list(message_log.export_csv(hub.deps.uow, LogFilter()))
    assert len(chunks) == 2  # the header, then one chunk per page
    monkeypatch.setattr(message_log, "EXPORT_PAGE", 3)
    chunks = list(message_log.export_csv(hub.deps.uow, LogFilter()))
    assert len(chunks) == 1 + 3  # 7 rows in pages of 3
    assert sum(c.count(b"\r\n") for c in chunks) == 1 + 7


def test_trace_of_a_document_local_forwarded_with_statuses_and_revoke(
    monitor: Monitor, scenario: Scenario
) -> None:
    [trace] = monitor.trace(scenario.a)
    hops = trace.hops
    assert [h.at for h in hops] == sorted(h.at for h in hops)
    assert hops[0].kind == "accepted"
    assert {h.recipient for h in hops if h.recipient} == {SO_CODE, G22}
    assert [(h.recipient, h.details["reason"]) for h in hops if h.kind == "status"] == [
        (SO_CODE, "status 03")
    ]
    assert [h.delivery_id for h in hops if h.kind == "remote"] == [scenario.a_national]
    moved = {(h.delivery_id, h.details.get("to_state")) for h in hops if h.kind == "delivery"}
    assert (scenario.a_national, "forwarded") in moved
    assert (scenario.a_local, "fetched") in moved
    related = {h.details["doc_id"] for h in hops if h.kind == "related"}
    assert related == {scenario.status, scenario.revoke}
    # the revoke and the status point back to the original, in the trace and the document view
    for other in (scenario.revoke, scenario.status):
        [t] = monitor.trace(other)
        assert [h.details["doc_id"] for h in t.hops if h.kind == "link"] == [scenario.a]
        assert [r.id for r in monitor.document(other).related] == [scenario.a]
    assert {r.id for r in monitor.document(scenario.a).related} == related


def test_trace_of_a_document_that_came_from_the_axis(monitor: Monitor, scenario: Scenario) -> None:
    [trace] = monitor.trace(scenario.inbound)
    assert [h.kind for h in trace.hops[:2]] == ["origin", "accepted"]
    assert trace.hops[0].details["peer"] == NATIONAL_LINK


def test_recipient_matches_the_code_addressed_or_resolved_once(
    monitor: Monitor, scenario: Scenario, hub: HubServices
) -> None:
    import dataclasses

    successor = "000.77.77.H41"  # a code closed by the reform and its successor
    with hub.deps.uow() as uow:
        row = uow.deliveries.get(scenario.b_delivery)
        assert row is not None
        assert uow.deliveries.save(dataclasses.replace(row, resolved_code=successor), read=row)
        uow.commit()
    assert _docs(monitor, recipient=successor) == [(scenario.b, UNKNOWN)]
    assert _docs(monitor, recipient=UNKNOWN) == [(scenario.b, UNKNOWN)]
    assert _docs(monitor, recipient=successor, state="done") == []
    page = monitor.log(LogFilter(recipient=SO_CODE), limit=1)
    rest = monitor.log(LogFilter(recipient=SO_CODE), cursor=page.next_cursor, limit=10)
    assert len(page.rows) + len(rest.rows) == len(_docs(monitor, recipient=SO_CODE))
