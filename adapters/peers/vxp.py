"""Peers of kind ``vxp``: the national document axis and every hub serving the VXP protocol.

Theory of operation. One :class:`adapters.vxp_client.VxpClient` per peer carries the four
capabilities of :class:`hub.ports.Peer`:

* **link** — ``sendEdoc`` (the client itself);
* **inbox** — ``getReceivedEdocList`` for ``edoc`` and for ``status`` items, ``getEdoc`` for the
  bytes (base64-decoded, never round-tripped through text), and ``updateStatus`` ``done`` /
  ``fail`` as the acknowledgement. VXP's ``updateStatus`` has no field for a reason: a refusal's
  reason stays in this hub's records (``inbound_items``), the peer learns only ``fail``;
* **tracker** — ``getSentEdocList`` rows, the axis' words mapped to
  :class:`hub.services.contracts.TransportStatus` (:func:`transport_status`);
* **directory** — ``getAgenciesList`` rows as :class:`hub.ports.AgencyRow`, ``registerAgency``,
  ``deleteAgency``.

Another lienthong hub (``lienthong run --role national``, or a provincial hub reached directly)
is a VXP peer like the real axis: this hub is one of its connected systems.

Hazard (vxp-protocol §5.1): the official SDK turns an HTML page or any non-JSON answer to
``getReceivedEdocList`` into "no new documents". The client does not: such a reply is a
:class:`hub.errors.PeerError` (or :class:`~hub.errors.PeerUnavailable` on 5xx), so a misrouted
endpoint shows up as a failing peer, never as a quiet inbox.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from adapters.peers.vxp_directory import VxpDirectory
from adapters.vxp_client import VxpClient
from hub.edxml.model import MessageKind
from hub.ports import Peer, RemoteDeliveryState, RemoteItem
from hub.services.contracts import TransportStatus
from hub.settings import PeerSettings, SettingsError
from hub.vxp.wire import DEFAULT_ZONE

__all__ = ["VxpDirectory", "VxpInbox", "VxpTracker", "build"]

#: Options a ``vxp`` peer reads from ``peers.<name>.options``.
OPTIONS = frozenset({"zone"})

#: The axis' delivery words (``sendStatus`` of getSentEdocList; lienthong hubs answer with
#: their delivery state names) → the transport status they mean. Words that say the copy is
#: still on its way (``initial``, ``queued``, ``available``, ``forwarding``…) map to nothing:
#: there is no news yet.
_WORDS: dict[str, TransportStatus] = {
    "done": TransportStatus.DONE,
    "processing": TransportStatus.PROCESSING,
    "fetched": TransportStatus.PROCESSING,
    "fail": TransportStatus.FAIL,
    "failed": TransportStatus.FAIL,
    "dead": TransportStatus.FAIL,
    "undeliverable": TransportStatus.FAIL,
    "revoked": TransportStatus.FAIL,
    "discarded": TransportStatus.FAIL,
}


def transport_status(word: str) -> TransportStatus | None:
    """The transport status an axis word means, ``None`` for "still on its way"."""
    return _WORDS.get(word.strip().lower())


def wire_moment(text: str, zone: str = DEFAULT_ZONE) -> dt.datetime | None:
    """A ``yyyy-MM-dd HH:mm:ss`` time in ``zone`` (vxp-protocol §9) as UTC; ``None`` if it is
    absent or in another shape (the SDK does not parse these either)."""
    try:
        local = dt.datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)


class VxpInbox:
    """:class:`hub.ports.PeerInbox` over ``getReceivedEdocList``, ``getEdoc``, ``updateStatus``."""

    def __init__(self, client: VxpClient) -> None:
        self._client = client

    def pending(self, kind: MessageKind, *, limit: int = 100) -> Sequence[RemoteItem]:
        items = self._client.get_received_edoc_list(kind)
        out = []
        for k in items:
            if transport_status(k.status) is TransportStatus.DONE:
                continue  # a peer listing acknowledged items: nothing to take
            out.append(
                RemoteItem(
                    remote_id=k.doc_id,
                    kind=kind,
                    from_code=k.from_code or None,
                    listed_at=wire_moment(k.created_time, self._client.zone),
                )
            )
        return out[:limit]

    def fetch(self, item: RemoteItem) -> bytes:
        return self._client.get_edoc(item.remote_id)

    def acknowledge(self, item: RemoteItem, *, accepted: bool, reason: str | None = None) -> None:
        status = TransportStatus.DONE if accepted else TransportStatus.FAIL
        self._client.update_status(item.remote_id, status)


class VxpTracker:
    """:class:`hub.ports.PeerTracker` over ``getSentEdocList``."""

    def __init__(self, client: VxpClient) -> None:
        self._client = client

    def delivery_states(self, remote_id: str) -> Sequence[RemoteDeliveryState]:
        out = []
        for row in self._client.get_sent_edoc_list(remote_id):
            status = transport_status(row.get("sendStatus", ""))
            recipient = row.get("toCode", "")
            if status is None or not recipient:
                continue
            out.append(
                RemoteDeliveryState(
                    remote_id=remote_id,
                    recipient_code=recipient,
                    status=status.value,
                    description=row.get("sendStatusDesc") or None,
                    at=wire_moment(row.get("receivedTime", ""), self._client.zone),
                )
            )
        return out


def build(settings: PeerSettings) -> Peer:
    """A VXP peer: this hub is the system ``settings.system_id`` at ``settings.endpoint``.

    The inbox is offered only when ``settings.poll`` is on (the poller takes every peer that
    has one); the tracker and the directory always.
    """
    if not settings.system_id or settings.secret is None:
        raise SettingsError(f"peers.{settings.name}: a vxp peer needs system_id and secret")
    unknown = sorted(set(settings.options) - OPTIONS)
    if unknown:
        raise SettingsError(f"peers.{settings.name}.options: unknown option {unknown[0]!r}")
    client = VxpClient(
        settings.endpoint,
        settings.system_id,
        settings.secret.reveal(),
        zone=settings.options.get("zone", DEFAULT_ZONE),
    )
    return Peer(
        name=settings.name,
        kind="vxp",
        link=client,
        inbox=VxpInbox(client) if settings.poll else None,
        tracker=VxpTracker(client),
        directory=VxpDirectory(client, f"peer:{settings.name}"),
        close=client.close,
    )
