"""Two provincial hubs reaching each other directly (``peers:``), without the national axis.

Nghệ An (H41) and Cao Bằng (H14) each run ``lienthong run``; each is an ordinary system of the
other (``hub.h41`` at H14, ``hub.h14`` at H41, hosting the other's root agency) and names the
other in its ``peers:`` settings. Each registers its communes at the other, forwards mail for
the other's scope straight to it, and polls its own system inbox there. A document goes from a
commune of H41 to the People's Committee of H14 and the answer comes back, over real processes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import (
    AGENCY_A,
    BACKENDS,
    SECRET_A,
    SYSTEM_A,
    HubSite,
    drain,
    edoc_for,
    free_port,
    make_site,
    wait_for,
)

from hub.edxml.model import MessageKind
from tests.factories import make_status

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

H41_ROOT, H14_ROOT = "000.00.00.H41", "000.00.00.H14"
H41_AT_H14, H41_SECRET = "hub.h41", "e2e-secret-of-h41-at-h14"
H14_AT_H41, H14_SECRET = "hub.h14", "e2e-secret-of-h14-at-h41"
SYSTEM_H14, SECRET_H14 = "qlvb.caobang", "e2e-secret-of-caobang"


def _settings(site: HubSite, organ: str, scope: str, peer: str, port: int, system: str,
              secret: str, peer_scope: str) -> Path:  # fmt: skip
    path = site.data_dir / "settings.yaml"
    path.write_text(
        f"hub: {{organ_id: '{organ}', scope: [{scope}]}}\n"
        f"inbound: {{poll_s: 0.3, track_s: 1}}\n"
        f"peers:\n  {peer}: {{endpoint: 'http://127.0.0.1:{port}/', scope: [{peer_scope}], "
        f"system_id: '{system}', secret: '{secret}'}}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module", params=BACKENDS)
def hubs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[HubSite, HubSite]]:
    backend = str(request.param)
    with (
        make_site(request, backend, tmp_path_factory.mktemp(f"h41-{backend}")) as h41,
        make_site(request, backend, tmp_path_factory.mktemp(f"h14-{backend}")) as h14,
    ):
        port41, port14 = free_port(), free_port()
        h41.env["LIENTHONG_SETTINGS"] = str(
            _settings(h41, H41_ROOT, "H41", "caobang", port14, H41_AT_H14, H41_SECRET, "H14")
        )
        h14.env["LIENTHONG_SETTINGS"] = str(
            _settings(h14, H14_ROOT, "H14", "nghean", port41, H14_AT_H41, H14_SECRET, "H41")
        )
        h14.env["LIENTHONG_ORGAN_ID"] = H14_ROOT
        h41.add_system(SYSTEM_A, [AGENCY_A], SECRET_A)
        h41.add_system(H14_AT_H41, [H14_ROOT], H14_SECRET)
        h14.add_system(SYSTEM_H14, [H14_ROOT], SECRET_H14)
        h14.add_system(H41_AT_H14, [H41_ROOT], H41_SECRET)
        h41.start("run", port=port41)
        h14.start("run", port=port14)

        def registered() -> list[str]:
            systems = json.loads(h14.cli("systems", "list", "--json").stdout)
            agencies = next(s["agencies"] for s in systems if s["system_id"] == H41_AT_H14)
            return [c for c in agencies if c == AGENCY_A]

        wait_for(registered, what="the commune registered at the peer hub", timeout=60)
        yield h41, h14


def test_a_document_and_its_answer_travel_directly_between_provincial_hubs(
    hubs: tuple[HubSite, HubSite],
) -> None:
    h41, h14 = hubs
    with (
        h41.client(SYSTEM_A, SECRET_A, h41.processes[0]) as commune,
        h14.client(SYSTEM_H14, SECRET_H14, h14.processes[0]) as caobang,
    ):
        package, data = edoc_for(AGENCY_A, [H14_ROOT])
        doc_id = commune.send_edoc(data, from_code=AGENCY_A, to_codes=[H14_ROOT])

        ((item, got),) = drain(caobang, expect=1, timeout=30)
        assert item.from_code == AGENCY_A
        assert b"<edXML:OrganId>000.00.00.H41</edXML:OrganId>" in got  # H41's hop

        answer = make_status(
            sender=H14_ROOT, response_to=AGENCY_A, document_id=package.document_id,
            status_code="03",
        )  # fmt: skip
        caobang.send_edoc(answer, from_code=H14_ROOT, kind=MessageKind.STATUS)

        drain(commune, expect=1, kind=MessageKind.STATUS, timeout=30)
        (row,) = commune.get_sent_edoc_list(doc_id)
        assert (row["toCode"], row["receiveStatus"]) == (H14_ROOT, "03")
        wait_for(
            lambda: [r for r in commune.get_sent_edoc_list(doc_id) if r["sendStatus"] == "done"],
            what="the peer's state 'done' in the commune's sent list",
            timeout=30,
        )
