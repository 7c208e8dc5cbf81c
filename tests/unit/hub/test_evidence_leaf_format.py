"""The evidence leaf's bytes are a format: receipts and chain paths already issued are checked
against them offline. These leaves were computed by the first implementation
(``dataclasses.asdict``); any faster way of building the canonical form must give them."""

from __future__ import annotations

import datetime as dt

from hub.evidence import EvidenceEvent, canonical, event_fields, event_from_fields, leaf

ICT = dt.timezone(dt.timedelta(hours=7))

EVENTS = [
    (
        EvidenceEvent(
            1,
            dt.datetime(2026, 3, 2, 8, 0, 0, 123, tzinfo=ICT),
            "d1",
            "doc",
            "000.00.00.H41,2026/03/02,17/UBND-VP",
            "ab" * 32,
            "000.00.00.H41",
            "000.00.02.H41",
            "queued",
            "available",
            None,
        ),
        "a9fc25649e360a3b83344caff69812ec6a07b52d4b566c09abbb11e74a0d94d1",
    ),
    (
        EvidenceEvent(
            None,
            dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC),
            "d2",
            "doc2",
            None,
            "cd" * 32,
            "s",
            "r",
            None,
            "queued",
            "status 05 — Việt",
        ),
        "251e42bf7e35d748076a48881fd92830c0a47133d48940ac10890e9f118fbe6a",
    ),
]


def test_leaves_are_those_of_the_first_format() -> None:
    for event, expected in EVENTS:
        assert leaf(event) == expected


def test_the_canonical_form_leaves_out_the_store_id_only() -> None:
    event, _ = EVENTS[0]
    data = event_fields(event)
    assert "id" not in data
    assert data["at"] == "2026-03-02T01:00:00.000123+00:00"
    assert canonical(event).startswith(b'{"at":"2026-03-02T01:00:00.000123+00:00","delivery_id"')
    back = event_from_fields(data)
    assert leaf(back) == leaf(event)
    assert back.id is None
