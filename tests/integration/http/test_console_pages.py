"""The console's overview (rates, waiting by route, certificates, storage, live refresh) and its
per-system and per-agency pages, through a whole hub's ASGI app on SQLite and on PostgreSQL.

The store is populated through the real services (push, refused push, dispatch, inbox listing,
fetch); the figures on the pages are compared with what was done, and each chart's bars with
the counts expected in each time bucket (computed from the stored timestamps, so the test does
not depend on the hour it runs at).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.edxml.model import MessageKind
from hub.entrypoints.bootstrap import Hub, build_hub
from hub.entrypoints.console_facts import console_facts
from hub.errors import HubError
from hub.ports import AgencyRow, NullVerifier
from hub.services.activity import window
from hub.settings import EvidenceSettings, SealKeySettings, load_settings
from tests.factories import make_edoc
from tests.pki import KEY_PASSWORD, TestPki

UBND, SO = "qlvb.ubnd", "qlvb.so"
UBND_CODE, SO_CODE = "000.00.00.H41", "000.00.02.H41"
UNKNOWN_TO = "000.99.99.H41"  # in scope, hosted by nobody: undeliverable at intake
LOOPBACK = ("127.0.0.1", 50123)
SVG = "{http://www.w3.org/2000/svg}"


@dataclasses.dataclass
class Scene:
    hub: Hub
    client: TestClient
    docs: list[str]  # DocIds pushed, in order
    fetched: str  # the delivery SO fetched
    waiting: list[str]  # SO's deliveries still in its inbox
    undeliverable: str


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    # a console read from loopback without a login, on PostgreSQL too (the settings say so)
    out = {"LIENTHONG_DATA_DIR": str(tmp_path / "data"), "LIENTHONG_LOOPBACK_LOGIN": "true"}
    if request.param == "postgresql":
        out["LIENTHONG_DATABASE_URL"] = request.getfixturevalue("postgres_server").create()
    return out


@pytest.fixture
def anchors(pki: TestPki, tmp_path: Path) -> Path:
    path = tmp_path / "anchors.pem"
    path.write_bytes(pki.anchors_pem)
    return path


@pytest.fixture
def scene(env: dict[str, str], anchors: Path) -> Iterator[Scene]:
    settings = dataclasses.replace(load_settings(env=env), trust_anchors=(anchors,))
    hub = build_hub(settings, verifier=NullVerifier(), links={})
    try:
        hub.services.systems.add(UBND, [UBND_CODE], secret="ubnd-secret-8c1f2a")
        hub.services.systems.add(SO, [SO_CODE], secret="so-secret-31d0ab")
        docs, to_so = [], []
        undeliverable = ""
        for n, to in enumerate([[SO_CODE, UNKNOWN_TO], [SO_CODE], [SO_CODE]]):
            data = make_edoc(sender=UBND_CODE, to=to, subject=f"Công văn {n}", code_number=str(n))
            result = hub.services.push(UBND, data)
            docs.append(result.doc_id)
            for r in result.recipients:
                if r.recipient == SO_CODE:
                    to_so.append(r.delivery_id)
                else:
                    undeliverable = r.delivery_id
        with pytest.raises(HubError):
            hub.services.push(UBND, b"<not-edxml/>")  # refused at intake: audited
        hub.dispatch.dispatch(to_so)
        assert len(hub.services.list_received(SO, MessageKind.EDOC)) == 3  # the pull
        hub.services.fetch(SO, to_so[0])
        with TestClient(hub.app(), client=LOOPBACK, follow_redirects=False) as client:
            yield Scene(hub, client, docs, to_so[0], to_so[1:], undeliverable)
    finally:
        hub.close()


def _svg(html_text: str, series: str) -> ET.Element:
    match = re.search(
        rf'<svg class="chart"[^>]*aria-labelledby="chart-{series}".*?</svg>', html_text
    )
    assert match is not None, f"no {series} chart"
    return ET.fromstring(match.group(0))


def _bars(svg: ET.Element) -> list[int]:
    return [int(r.attrib["data-count"]) for r in svg.iter(f"{SVG}rect")]


def _expected(moments: list[dt.datetime], span: str, now: dt.datetime) -> list[int]:
    w = window(span, now)
    counts = [0] * w.count
    for at in moments:
        i = w.index(at)
        if i is not None:
            counts[i] += 1
    return counts


def _moments(hub: Hub) -> dict[str, list[dt.datetime]]:
    with hub.uow() as uow:
        docs = list(uow.documents.search(UBND, limit=100))
        deliveries = [d for doc in docs for d in uow.deliveries.for_document(doc.id)]
        events = [e for d in deliveries for e in uow.deliveries.events(d.id)]
        refused = [r.at for r in uow.audit.recent(action="push", limit=100) if r.outcome != "ok"]
    return {
        "received": [d.received_at for d in docs],
        "delivered": [e.at for e in events if e.to_state in ("fetched", "forwarded")],
        "failed": [e.at for e in events if e.to_state in ("dead", "undeliverable")],
        "refused": refused,
    }


# ------------------------------------------------------------------------------- overview


@pytest.mark.parametrize("span", ["hour", "day", "week"])
def test_overview_charts_show_each_bucket_count(scene: Scene, span: str) -> None:
    r = scene.client.get(f"/dashboard/?span={span}")
    assert r.status_code == 200
    now = scene.hub.clock.now()
    moments = _moments(scene.hub)
    totals = {"received": 3, "delivered": 1, "refused": 1, "failed": 1}
    for series, total in totals.items():
        assert len(moments[series]) == total, series
        bars = _bars(_svg(r.text, series))
        assert bars == _expected(moments[series], span, now), series
        assert f'<b data-series="{series}">{total}</b>' in r.text
    assert "aria-current=page class=on>" in r.text.split(f"?span={span}")[1][:40]


def test_bars_are_as_tall_as_their_counts(scene: Scene) -> None:
    svg = _svg(scene.client.get("/dashboard/?span=week").text, "received")
    rects = list(svg.iter(f"{SVG}rect"))
    counts = [int(r.attrib["data-count"]) for r in rects]
    heights = [float(r.attrib["height"]) for r in rects]
    peak = max(counts)
    tallest = max(heights)
    assert tallest > 0
    for n, h in zip(counts, heights, strict=True):
        assert h == pytest.approx(tallest * n / peak, abs=0.01)
    title = svg.find(f"{SVG}title")
    assert title is not None
    assert ": 3 (max " in str(title.text)


def test_overview_shows_waiting_by_route_problems_and_links(scene: Scene) -> None:
    text = scene.client.get("/dashboard/").text
    assert '<div class="n" data-state="undeliverable">1</div>' in text
    assert 'href="/dashboard/deliveries?state=dead"' in text
    # by route: SO's two waiting deliveries are local, available
    route_rows = re.findall(r"<tr><td>local</td><td><span class=\"n\">(\d+)</span>", text)
    assert route_rows == ["2"]
    assert f'href="/dashboard/systems/{SO}"' in text


def test_overview_shows_certificates_and_storage(scene: Scene, pki: TestPki) -> None:
    text = scene.client.get("/dashboard/?lang=en").text
    assert '<html lang="en">' in text
    root = pki.root.cert
    days = (root.not_valid_after_utc - scene.hub.clock.now()).days
    assert "Trust anchor" in text
    assert f'data-days="{days}"' in text
    assert root.subject.rfc4514_string() in text
    size = re.search(r'data-bytes="(\d+)">', text.split("Database size")[1])
    assert size is not None
    assert int(size.group(1)) > 0
    kind = scene.hub.engine.dialect.name
    assert f"{kind}: <span" in text


def test_live_part_refreshes_without_reloading(scene: Scene) -> None:
    page = scene.client.get("/dashboard/?span=hour")
    nonce = re.search(r'<script nonce="([^"]+)">', page.text)
    assert nonce is not None
    csp = page.headers["content-security-policy"]
    assert f"script-src 'nonce-{nonce.group(1)}'" in csp
    assert "connect-src 'self'" in csp
    assert "/dashboard/overview/live?span=hour" in page.text
    assert "<form" not in page.text.split('<main id="main">')[1]  # nothing a refresh could lose
    live = scene.client.get("/dashboard/overview/live?span=hour")
    assert live.status_code == 200
    assert "<html" not in live.text
    assert 'data-series="received">3<' in live.text
    assert "script-src" not in live.headers["content-security-policy"]
    other = scene.client.get("/dashboard/systems")
    assert "script-src" not in other.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("query", "every_s"), [("", 30), ("?refresh=5", 5), ("?refresh=0", 2), ("?refresh=99999", 3600)]
)
def test_the_refresh_interval_is_30_s_unless_asked_within_bounds(
    scene: Scene, query: str, every_s: int
) -> None:
    page = scene.client.get(f"/dashboard/{query}")
    assert page.status_code == 200
    assert f"setInterval(tick,{every_s * 1000})" in page.text
    assert f'content="{every_s * 2}"' in page.text  # the reload without scripts follows it


def test_live_part_follows_the_access_rule(scene: Scene) -> None:
    with TestClient(scene.client.app, client=("192.0.2.7", 4000), follow_redirects=False) as remote:
        answer = remote.get("/dashboard/overview/live")
    # a stranger is sent to the login page (the refresh script then reloads into it)
    assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard/login")


# ------------------------------------------------------------------- system and agency pages


def _card(text: str, key: str) -> str:
    match = re.search(rf'data-card="{key}">(.*?)</div>', text)
    assert match is not None, key
    return match.group(1)


def test_system_page_answers_why_the_commune_has_not_received_it(scene: Scene) -> None:
    text = scene.client.get(f"/dashboard/systems/{SO}").text
    assert _card(text, "waiting") == "2"
    assert _card(text, "taken") == "1"
    assert _card(text, "sent") == "0"
    assert "chưa" not in _card(text, "last_pull")
    assert "chưa" not in _card(text, "last_fetch")
    # newest first: the last two pushes wait, the first was fetched
    listed = re.findall(r'href="/dashboard/documents/([0-9a-f-]+)"', text)
    assert listed == [scene.docs[2], scene.docs[1], scene.docs[0]]
    sender = scene.client.get(f"/dashboard/systems/{UBND}").text
    assert _card(sender, "sent") == "3"
    assert "chưa" in _card(sender, "last_pull")  # it never listed its inbox


def test_two_clicks_from_the_overview_to_the_document(scene: Scene) -> None:
    overview = scene.client.get("/dashboard/").text
    system_href = re.search(rf'href="(/dashboard/systems/{re.escape(SO)})"', overview)
    assert system_href is not None
    system = scene.client.get(system_href.group(1)).text
    doc_href = re.search(r'href="(/dashboard/documents/[0-9a-f-]+)"', system)
    assert doc_href is not None
    document = scene.client.get(doc_href.group(1))
    assert document.status_code == 200
    assert "Công văn 2" in document.text
    assert scene.waiting[-1] in document.text  # the delivery, with its state and events


def test_agency_page_lists_deliveries_to_the_code(scene: Scene) -> None:
    text = scene.client.get(f"/dashboard/agencies/{UNKNOWN_TO}?lang=en").text
    assert "No system on this hub" in text
    assert 'class="pill undeliverable"' in text
    assert re.findall(r'href="/dashboard/documents/([0-9a-f-]+)"', text) == [scene.docs[0]]
    hosted = scene.client.get(f"/dashboard/agencies/{SO_CODE}").text
    assert f'href="/dashboard/systems/{SO}"' in hosted
    assert len(re.findall(r'href="/dashboard/documents/', hosted)) == 3


def test_unknown_system_is_a_404(scene: Scene) -> None:
    assert scene.client.get("/dashboard/systems/nobody").status_code == 404


def test_systems_list_shows_the_last_pull_and_links(scene: Scene) -> None:
    text = scene.client.get("/dashboard/systems").text
    row = re.search(rf'<tr><td><a href="/dashboard/systems/{re.escape(SO)}">.*?</tr>', text)
    assert row is not None
    assert row.group(0).count('<span class="t">') == 2  # last seen, last pull
    assert f'href="/dashboard/agencies/{SO_CODE}"' in text


# --------------------------------------------------------------------------- certificates


def test_console_facts_read_keys_and_report_what_cannot_be_read(
    scene: Scene, key_files: dict[str, Path], anchors: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIENTHONG_TEST_SEAL_PIN", KEY_PASSWORD)
    settings = dataclasses.replace(
        scene.hub.settings,
        trust_anchors=(anchors, anchors.with_name("missing.pem")),
        seal_keys=(
            SealKeySettings(
                "000.00.00.H41",
                f"file:{key_files['agency.p12']}",
                pin_env="LIENTHONG_TEST_SEAL_PIN",
            ),
            SealKeySettings(
                "000.00.02.H41", f"file:{key_files['agency.p12']}", pin_env="LIENTHONG_TEST_NO_PIN"
            ),
        ),
        evidence=EvidenceSettings(key=f"file:{key_files['agency_ec.pem']}"),
    )
    facts = console_facts(settings, scene.hub.engine)()
    by_name = {(c.role, c.name): c for c in facts.certificates}
    assert by_name[("anchor", str(anchors))].not_after is not None
    assert by_name[("anchor", str(anchors.with_name("missing.pem")))].problem == "FileNotFoundError"
    assert by_name[("seal", "000.00.00.H41")].not_after is not None
    assert by_name[("seal", "000.00.02.H41")].problem is not None  # no PIN: reported
    receipt = by_name[("receipt", f"file:{key_files['agency_ec.pem']}")]
    assert receipt.not_after is not None
    assert receipt.problem is None
    assert KEY_PASSWORD not in repr(facts)
    assert facts.storage is not None
    assert (facts.storage.disk_free or 0) > 0


# --------------------------------------------------------------------------- accessibility


class _A11y(HTMLParser):
    """Collects inputs without a label, table headers without scope, and the page's lang."""

    def __init__(self) -> None:
        super().__init__()
        self.in_label = 0
        self.label_for: set[str] = set()
        self.inputs: list[dict[str, str | None]] = []
        self.unscoped = 0
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "label":
            self.in_label += 1
            if a.get("for"):
                self.label_for.add(str(a["for"]))
        elif tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.inputs.append({**a, "_wrapped": "1" if self.in_label else None})
        elif tag == "th" and a.get("scope") not in ("col", "row"):
            self.unscoped += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1

    def unlabelled(self) -> list[dict[str, str | None]]:
        return [
            i
            for i in self.inputs
            if not i["_wrapped"] and not i.get("aria-label") and i.get("id") not in self.label_for
        ]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_page_labels_its_inputs_and_scopes_its_headers(scene: Scene, lang: str) -> None:
    pages = [
        "/dashboard/",
        "/dashboard/deliveries?state=undeliverable",
        f"/dashboard/documents?q={UBND}",
        f"/dashboard/documents/{scene.docs[0]}",
        "/dashboard/audit",
        "/dashboard/systems",
        f"/dashboard/systems/{SO}",
        f"/dashboard/agencies/{SO_CODE}",
    ]
    inputs = 0
    for path in pages:
        r = scene.client.get(path + ("&" if "?" in path else "?") + f"lang={lang}")
        assert r.status_code == 200, path
        found = _A11y()
        found.feed(r.text)
        assert found.lang == lang, path
        assert found.unlabelled() == [], path
        assert found.unscoped == 0, path
        inputs += len(found.inputs)
    assert inputs >= 4  # search, two audit filters, a redrive checkbox: the check saw them


def test_system_page_says_why_the_inbox_is_not_emptying(scene: Scene) -> None:
    hub = scene.hub
    assert "data-diagnosis" not in scene.client.get(f"/dashboard/systems/{SO}").text
    hub.services.systems.add("qlvb.xa", ["000.00.03.H41"], secret="xa-secret-5e2b91")
    result = hub.services.push(
        UBND, make_edoc(sender=UBND_CODE, to=["000.00.03.H41"], code_number="77")
    )
    hub.dispatch.dispatch([r.delivery_id for r in result.recipients])
    text = scene.client.get("/dashboard/systems/qlvb.xa?lang=en").text
    assert 'data-diagnosis="not_polling"' in text
    assert "1 documents wait but the system has never listed its inbox" in text
    assert '<div class="card bad"><div class="n" data-card="last_pull">' in text
    hub.services.systems.disable(SO)
    disabled = scene.client.get(f"/dashboard/systems/{SO}?lang=vi").text
    assert 'data-diagnosis="disabled"' in disabled
    assert "Hệ thống đang bị khóa" in disabled


def test_metrics_give_each_systems_last_pull_age(scene: Scene) -> None:
    text = scene.client.get("/metrics").text
    ages = re.findall(r'lienthong_system_last_pull_age_seconds\{system="([^"]+)"\} (\S+)', text)
    assert [name for name, _ in ages] == [SO]  # UBND never listed its inbox: no sample
    assert 0 <= float(ages[0][1]) < 300


def test_agency_page_of_a_closed_code_names_its_successor(scene: Scene) -> None:
    closed = "000.05.00.H41"
    with scene.hub.uow() as uow:
        uow.agencies.upsert(
            AgencyRow(
                closed,
                "UBND xã Cũ",
                valid_to=dt.date(2025, 7, 1),
                successor_code=SO_CODE,
                source="sample",
            )
        )
        uow.commit()
    text = scene.client.get(f"/dashboard/agencies/{closed}?lang=vi").text
    assert "UBND xã Cũ" in text
    assert "2025-07-01" in text
    assert f'<a href="/dashboard/agencies/{SO_CODE}">{SO_CODE}</a>' in text
    unknown = scene.client.get("/dashboard/agencies/000.77.77.H41?lang=en").text
    assert "Not in the registry" in unknown
