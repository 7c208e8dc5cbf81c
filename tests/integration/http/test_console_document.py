"""The console's document page (timeline across hops), package and attachment downloads, and
the dead letters (redrive many, discard with a required reason), through the ASGI app on SQLite
and PostgreSQL with the message-log scenario stored."""

from __future__ import annotations

import hashlib
import re

import pytest

from hub.delivery import State
from tests.integration.http.console_support import ORIGIN, Populated, csrf_of
from tests.message_log_support import G22, SO_CODE


def test_the_document_page_shows_every_hop_in_one_timeline(populated: Populated) -> None:
    c, s = populated.client, populated.scenario
    page = c.get(f"/dashboard/documents/{s.a}?lang=en")
    assert page.status_code == 200
    html = page.text
    timeline = html[html.index("Timeline across hops") :]
    for kind in ("Accepted", "Delivery", "Business status", "Remote state", "Related document"):
        assert kind in timeline, kind
    assert "<td>03</td>" in timeline  # the status code
    assert "remote processing" in timeline
    assert f"/dashboard/documents/{s.revoke}" in timeline  # the revoke, linked
    assert f"/dashboard/documents/{s.status}" in timeline  # the status message, linked
    assert SO_CODE in timeline
    assert G22 in timeline
    assert f'href="/dashboard/documents/{s.a}/package"' in html
    assert f'href="/dashboard/documents/{s.a}/attachments"' in html
    assert f'href="/dashboard/documents/{s.a}/evidence"' in html
    vi = c.get(f"/dashboard/documents/{s.a}?lang=vi").text
    assert "Diễn biến qua các chặng" in vi
    came = c.get(f"/dashboard/documents/{s.inbound}?lang=en").text
    assert "Taken from a peer" in came
    assert "national: " in came


def test_package_and_attachments_download_as_stored_and_audited(populated: Populated) -> None:
    c, s, hub = populated.client, populated.scenario, populated.hub
    with hub.uow() as uow:
        doc = uow.documents.get(s.a)
    assert doc is not None
    package = c.get(f"/dashboard/documents/{s.a}/package")
    assert package.status_code == 200
    assert package.content == hub.blobs.get(doc.digest)  # byte for byte as received
    assert hashlib.sha256(package.content).hexdigest() == doc.digest
    assert "attachment;" in package.headers["content-disposition"]

    listing = c.get(f"/dashboard/documents/{s.a}/attachments?lang=en")
    assert listing.status_code == 200
    names = re.findall(r'/attachments/(\d+)" download>([^<]+)<', listing.text)
    assert names
    n, _name = names[0]
    file = c.get(f"/dashboard/documents/{s.a}/attachments/{n}")
    assert file.status_code == 200
    assert file.content.startswith(b"%PDF")
    assert hashlib.sha256(file.content).hexdigest() in listing.text
    assert "filename*=UTF-8''" in file.headers["content-disposition"]
    assert c.get(f"/dashboard/documents/{s.a}/attachments/99").status_code == 404
    assert c.get("/dashboard/documents/no-such-doc/package").status_code == 404
    actions = {(a.action, a.subject) for a in hub.monitor().audit(action="document.")}
    assert actions == {("document.download", s.a), ("document.attachment", s.a)}


def test_discard_needs_a_reason_and_csrf_and_is_audited(populated: Populated) -> None:
    c, s, hub = populated.client, populated.scenario, populated.hub
    page = c.get("/dashboard/deliveries?state=undeliverable&lang=en")
    assert page.status_code == 200
    assert 'name="reason" required' in page.text
    assert 'formaction="/dashboard/discard"' in page.text
    token = csrf_of(page.text)
    form = {"id": s.b_delivery, "back": "undeliverable", "csrf": token}

    no_csrf = c.post("/dashboard/discard", data={**form, "csrf": "x", "reason": "spam"},
                     headers={"Origin": ORIGIN})  # fmt: skip
    assert no_csrf.status_code == 403
    cross = c.post("/dashboard/discard", data={**form, "reason": "spam"},
                   headers={"Origin": "http://evil.example"})  # fmt: skip
    assert cross.status_code == 403
    empty = c.post("/dashboard/discard", data={**form, "reason": "   "}, headers={"Origin": ORIGIN})
    assert empty.status_code == 400
    assert (
        "reason is required"
        in c.post(
            "/dashboard/discard?lang=en", data={**form, "reason": ""}, headers={"Origin": ORIGIN}
        ).text
    )
    with hub.uow() as uow:
        row = uow.deliveries.get(s.b_delivery)
    assert row is not None
    assert row.state == State.UNDELIVERABLE  # nothing discarded without a reason

    reason = "Mã cơ quan đã giải thể, đã báo nơi gửi"
    ok = c.post("/dashboard/discard", data={**form, "reason": reason}, headers={"Origin": ORIGIN})
    assert ok.status_code == 303
    assert ok.headers["location"] == "/dashboard/deliveries?state=undeliverable&discarded=1"
    assert "1 deliveries discarded" in c.get(ok.headers["location"] + "&lang=en").text
    with hub.uow() as uow:
        row = uow.deliveries.get(s.b_delivery)
    assert row is not None
    assert row.state == State.DISCARDED
    [audit] = hub.monitor().audit(action="delivery.discard")
    assert audit.actor.startswith("loopback@")
    assert reason in str(audit.details)


def test_redrive_many_from_the_dead_letters(populated: Populated) -> None:
    c, s, hub = populated.client, populated.scenario, populated.hub
    page = c.get("/dashboard/deliveries?state=undeliverable")
    moved = c.post(
        "/dashboard/redrive",
        data={"id": [s.b_delivery, s.a_local], "back": "undeliverable", "csrf": csrf_of(page.text)},
        headers={"Origin": ORIGIN},
    )
    assert moved.status_code == 303
    assert moved.headers["location"].endswith("moved=1")  # only the undeliverable one moves
    with hub.uow() as uow:
        row = uow.deliveries.get(s.b_delivery)
    assert row is not None
    assert row.state == State.QUEUED
    [audit] = hub.monitor().audit(action="delivery.redrive")
    assert audit.details["deliveries"] == [s.b_delivery]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_new_pages_label_their_inputs_and_scope_their_headers(
    populated: Populated, lang: str
) -> None:
    from tests.integration.http.test_console_pages import _A11y

    s = populated.scenario
    pages = [
        "/dashboard/log",
        f"/dashboard/log?sender={G22}",
        "/dashboard/deliveries?state=undeliverable",
        f"/dashboard/documents/{s.a}/attachments",
        f"/dashboard/documents/{s.a}/evidence",
    ]
    inputs = 0
    for path in pages:
        r = populated.client.get(path + ("&" if "?" in path else "?") + f"lang={lang}")
        assert r.status_code == 200, path
        found = _A11y()
        found.feed(r.text)
        assert found.lang == lang, path
        assert found.unlabelled() == [], path
        assert found.unscoped == 0, path
        inputs += len(found.inputs)
    assert inputs >= 10  # the log's eight filters, the discard reason, a checkbox


def test_each_page_asks_for_its_own_right(
    populated: Populated, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters.http.console.context import Console

    auditor = {"watch", "audit", "evidence", "download"}  # hub.access: the auditor's rights
    monkeypatch.setattr(Console, "may", lambda self, request, action: action in auditor)
    c, s, hub = populated.client, populated.scenario, populated.hub
    assert c.get("/dashboard/log").status_code == 200
    assert c.get(f"/dashboard/documents/{s.a}/package").status_code == 200
    assert c.get(f"/dashboard/documents/{s.a}/evidence").status_code == 200
    assert c.get("/dashboard/seal?lang=en").status_code == 403
    page = c.get("/dashboard/deliveries?state=undeliverable")
    refused = c.post(
        "/dashboard/discard?lang=en",
        data={"id": s.b_delivery, "reason": "r", "csrf": csrf_of(page.text)},
        headers={"Origin": ORIGIN},
    )
    assert refused.status_code == 403
    assert "may not do this: discard" in refused.text
    with hub.uow() as uow:
        row = uow.deliveries.get(s.b_delivery)
    assert row is not None
    assert row.state == State.UNDELIVERABLE
