"""The test world of the ``soap`` peer tests: who is who on the SOAP service, and this hub's
settings for it.

The province of the SOAP service is Cao Bằng (H14); this hub serves Nghệ An (H41). The service
knows two accounts: this hub's (:data:`HUB_SYSTEM`, hosting H41's codes) and the province's own
document system (:data:`REMOTE_SYSTEM`, hosting H14's), which stands for the other side of every
exchange. (A uniquely named module: test modules import it by name.)
"""

from __future__ import annotations

from soap_service import EdocStore, SoapHubServer

from hub.routing import Scope
from hub.settings import PeerSettings, Secret

PEER_NAME = "bkav-h14"
HUB_SYSTEM = "lienthong.h41"
HUB_SECRET = "hub-secret-7f3a9c"
REMOTE_SYSTEM = "qlvb.h14"
REMOTE_SECRET = "remote-secret-51b2"
H41 = "000.00.00.H41"
H41_SO = "000.01.01.H41"
H14 = "000.00.00.H14"
H14_SO = "000.02.01.H14"


def seed(store: EdocStore) -> None:
    """The two accounts and four organizations every test starts from."""
    store.add_account(HUB_SYSTEM, HUB_SECRET, [H41, H41_SO])
    store.add_account(REMOTE_SYSTEM, REMOTE_SECRET, [H14, H14_SO])
    store.add_organization(H14, "UBND Tỉnh Cao Bằng", level=1, email="vanthu@caobang.gov.vn")
    store.add_organization(H14_SO, "Sở Nội vụ Tỉnh Cao Bằng", parent=H14, level=2)
    store.add_organization(H41, "UBND Tỉnh Nghệ An", level=1)
    store.add_organization(H41_SO, "Sở Tài chính Tỉnh Nghệ An", parent=H41, level=2)


def peer_settings(server: SoapHubServer, **overrides: object) -> PeerSettings:
    """The settings of this hub's peer ``bkav-h14``, as ``config/settings.yaml`` would give."""
    values: dict[str, object] = {
        "name": PEER_NAME,
        "endpoint": server.endpoint,
        "scope": Scope.parse(["H14"]),
        "system_id": HUB_SYSTEM,
        "secret": Secret(HUB_SECRET),
        "kind": "soap",
        # Generous for a loaded CI machine: a SendDocument once waited out 5 s there. The
        # timeout test sets its own.
        "options": {"timeout_s": "20", "connect_timeout_s": "10"},
    }
    values.update(overrides)
    return PeerSettings(**values)  # type: ignore[arg-type]
