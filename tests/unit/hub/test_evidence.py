"""hub.evidence, pure: events linked by the audit chain's code over leaf digests, chain paths
that recompute to the timestamped head (and fail when an entry is changed, dropped or the head
is another), and the canonical statement."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json

import pytest

from hub.audit_chain import GENESIS, link, verify
from hub.evidence import (
    Batch,
    DocumentRecord,
    EvidenceEvent,
    canonical,
    chain_canon,
    chain_path,
    check_path,
    covering,
    event_fields,
    event_from_fields,
    leaf,
    statement,
    step,
)

T0 = dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.UTC)


def _event(i: int, doc: str = "doc-a") -> EvidenceEvent:
    return EvidenceEvent(
        id=i,
        at=T0 + dt.timedelta(seconds=i),
        delivery_id=f"dl-{doc}",
        doc_id=doc,
        document_id="000.00.00.G22,2026/12/04,12/QĐ-UBND",
        digest=hashlib.sha256(doc.encode()).hexdigest(),
        sender="000.00.00.G22",
        recipient="000.00.00.H41",
        from_state=None if i == 1 else "queued",
        to_state="available",
        reason="Ủy ban nhân dân" if i % 2 else None,
    )


def test_links_are_sha256_of_prev_and_leaf_and_verify() -> None:
    events = [_event(i, "doc-a" if i % 3 else "doc-b") for i in range(1, 10)]
    sealed = link(events, 0, GENESIS, chain_canon)
    prev = GENESIS
    for s in sealed:
        assert s.hash == step(prev, leaf(s.row))
        prev = s.hash
    assert leaf(events[0]) == hashlib.sha256(canonical(events[0])).hexdigest()
    assert verify(sealed, (), key=None, canon=chain_canon).ok


def test_fields_round_trip_and_canonical_form_is_stable() -> None:
    e = _event(3)
    assert event_from_fields(event_fields(e)) == dataclasses.replace(e, id=None)
    data = json.loads(canonical(e))
    assert data["at"] == "2026-12-04T08:00:03.000000+00:00"
    assert "id" not in data
    assert "Ủy ban" in canonical(e).decode("utf-8")  # not \\u-escaped: one form only


def _proof() -> tuple[Batch, dict[str, object]]:
    events = [_event(i, "doc-a" if i in (3, 6) else "doc-b") for i in range(1, 9)]
    sealed = link(events, 0, GENESIS, chain_canon)
    batch = Batch(1, 8, sealed[-1].hash, b"token", T0)
    return batch, chain_path(batch, sealed[2:], {3, 6})


def test_a_chain_path_reaches_its_head_and_proves_only_its_own_events() -> None:
    batch, path = _proof()
    result = check_path(path)
    assert result.problem is None
    assert (result.head_seq, result.head_hash) == (8, batch.head_hash)
    assert set(result.events) == {3, 6}
    entries = path["entries"]
    assert isinstance(entries, list)
    assert [("event" in e) for e in entries] == [True, False, False, True, False, False]


@pytest.mark.parametrize("attack", ["edit", "drop", "head", "leaf"])
def test_a_changed_chain_path_does_not_reach_its_head(attack: str) -> None:
    _, path = _proof()
    entries = path["entries"]
    assert isinstance(entries, list)
    if attack == "edit":
        entries[0]["event"]["to_state"] = "done"
    elif attack == "drop":
        del entries[2]
    elif attack == "head":
        path["head"] = {"seq": 8, "hash": "ab" * 32}
    else:
        entries[1]["leaf"] = "00" * 32
    assert check_path(path).problem is not None


def test_covering_batch_and_statement() -> None:
    b1, b2 = Batch(1, 10, "a" * 64, b"", T0), Batch(11, 20, "b" * 64, b"", T0)
    assert covering([b1, b2], 10) is b1
    assert covering([b1, b2], 11) is b2
    assert covering([b1, b2], 21) is None
    doc = DocumentRecord("doc-a", "x/QĐ", "d" * 64, "000.00.00.G22", T0)
    sealed = link([_event(1)], 0, GENESIS, chain_canon)
    stmt = statement(doc, [sealed[0], _event(2)], hub_id="000.00.00.H41", issued_at=T0)
    assert stmt == statement(doc, [sealed[0], _event(2)], hub_id="000.00.00.H41", issued_at=T0)
    data = json.loads(stmt)
    assert [e["seq"] for e in data["events"]] == [1, None]
    assert data["events"][0]["hash"] == sealed[0].hash
