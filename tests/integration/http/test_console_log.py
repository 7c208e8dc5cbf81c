"""The console's message log and CSV export through the ASGI app, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re

import pytest

from hub.services import message_log
from tests.integration.http.console_support import Populated
from tests.message_log_support import G22, HOSTILE_SUBJECT, SO_CODE, UBND_CODE, UNKNOWN


def _doc_ids(html_text: str) -> list[str]:
    return re.findall(r'href="/dashboard/documents/([0-9a-f-]{36})"', html_text)


def test_the_log_filters_as_asked(populated: Populated) -> None:
    c, s = populated.client, populated.scenario
    page = c.get("/dashboard/log")
    assert page.status_code == 200
    assert len(_doc_ids(page.text)) == 7
    assert 'name="document"' in page.text
    assert 'type="date"' in page.text
    assert "<script>" not in page.text  # the hostile subject is shown escaped
    assert set(_doc_ids(c.get("/dashboard/log", params={"code": "12/QĐ-UBND"}).text)) == {s.b}
    assert set(_doc_ids(c.get("/dashboard/log", params={"document": "H41-A"}).text)) == {
        s.a,
        s.revoke,
    }
    assert set(_doc_ids(c.get("/dashboard/log", params={"recipient": UNKNOWN}).text)) == {s.b}
    assert set(_doc_ids(c.get("/dashboard/log", params={"sender": G22}).text)) == {s.inbound}
    assert set(_doc_ids(c.get("/dashboard/log", params={"status": "03"}).text)) == {s.a}
    state = c.get("/dashboard/log", params={"state": "undeliverable", "sender": UBND_CODE})
    assert set(_doc_ids(state.text)) == {s.b}
    wide = c.get("/dashboard/log", params={"since": "2000-01-01", "until": "2999-12-31"})
    assert len(_doc_ids(wide.text)) == 7
    assert _doc_ids(c.get("/dashboard/log", params={"until": "2000-01-01"}).text) == []


def test_bad_parameters_are_named_not_dropped(populated: Populated) -> None:
    c = populated.client
    r = c.get("/dashboard/log", params={"since": "hôm qua", "lang": "en"})
    assert r.status_code == 400
    assert "Invalid parameter: since" in r.text
    assert c.get("/dashboard/log", params={"state": "nonsense"}).status_code == 400
    assert c.get("/dashboard/log", params={"status": "99"}).status_code == 400
    assert c.get("/dashboard/log", params={"cursor": "garbage"}).status_code == 400
    assert c.get("/dashboard/log.csv", params={"since": "x"}).status_code == 400


def test_pages_follow_the_cursor_to_the_end(
    populated: Populated, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(message_log, "PAGE_SIZE", 3)  # read by the console per request
    c = populated.client
    seen: list[str] = []
    href: str | None = "/dashboard/log?lang=en"
    pages = 0
    while href is not None:
        page = c.get(href)
        assert page.status_code == 200
        seen += re.findall(r'<code title="([0-9a-f-]{36})">', page.text)  # delivery ids
        found = re.search(r'rel="next" href="([^"]+)"', page.text)
        href = found.group(1).replace("&amp;", "&") if found else None
        pages += 1
    assert pages >= 3
    assert len(seen) == 7 + 7  # each row shows the short doc link and the delivery, both titled
    deliveries = seen[1::2]
    assert len(set(deliveries)) == 7


def test_csv_is_streamed_with_bom_and_the_filter(populated: Populated) -> None:
    c, s = populated.client, populated.scenario
    r = c.get("/dashboard/log.csv", params={"sender": UBND_CODE})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.content[3:].decode("utf-8"))))
    assert {row["doc_id"] for row in rows} == {s.a, s.b, s.revoke}
    b = next(row for row in rows if row["doc_id"] == s.b)
    assert b["subject"] == "'" + HOSTILE_SUBJECT
    assert b["code_notation"] == "QĐ-UBND"
    local = next(row for row in rows if row["delivery_id"] == s.a_local)
    assert (local["recipient_code"], local["business_status"]) == (SO_CODE, "03")
    page = c.get("/dashboard/log", params={"sender": UBND_CODE})
    assert "/dashboard/log.csv?sender=000.00.00.H41" in page.text


def test_log_sends_remote_clients_without_a_login_to_the_login_page(populated: Populated) -> None:
    from fastapi.testclient import TestClient

    app = populated.hub.app()
    with TestClient(app, client=("192.0.2.10", 40000), follow_redirects=False) as remote:
        for path in ("/dashboard/log", "/dashboard/log.csv"):
            answer = remote.get(path)
            assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard/login")
            assert "Mã VB" not in answer.text
