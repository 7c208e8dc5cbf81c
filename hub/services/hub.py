"""The one object the entry points call: :class:`HubServices` implements
:class:`hub.services.contracts.HubService` by delegating to the intake, pull and system services.

Contract: built once by the composition root from the ports and the configuration; holds no
state of its own beyond them, so one instance serves every request thread.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.edxml.model import MessageKind
from hub.edxml.source import Package
from hub.secrets import SecretBox
from hub.services.base import Deps, HubConfig
from hub.services.contracts import (
    AgencyRecord,
    FetchedPackage,
    FetchedStream,
    HubService,
    InboxItem,
    PushResult,
    SentRow,
    SystemCredentials,
    TimelineEntry,
    TransportStatus,
)
from hub.services.intake import Intake
from hub.services.pull import Pull
from hub.services.systems import SystemAdmin


class HubServices:
    """The hub's operations for the VXP façade, the REST API, the CLI and the dashboard."""

    def __init__(self, deps: Deps, config: HubConfig, box: SecretBox) -> None:
        self.deps = deps
        self.config = config
        self.intake = Intake(deps, config)
        self.pull = Pull(deps, config)
        self.systems = SystemAdmin(
            deps.uow,
            box,
            clock=deps.clock,
            default_max_age_s=config.default_max_age_s,
            on_change=deps.systems.clear,
            reader=deps.reader,
        )

    def credentials(self, system_id: str) -> SystemCredentials | None:
        return self.systems.credentials(system_id)

    def push(
        self, system_id: str, data: Package, *, declared_from: str | None = None
    ) -> PushResult:
        return self.intake.push(system_id, data, declared_from=declared_from)

    def list_received(self, system_id: str, kind: MessageKind) -> Sequence[InboxItem]:
        return self.pull.list_received(system_id, kind)

    def count_received(self, system_id: str, kind: MessageKind) -> int:
        return self.pull.count_received(system_id, kind)

    def fetch(self, system_id: str, delivery_id: str) -> FetchedPackage:
        return self.pull.fetch(system_id, delivery_id)

    def fetch_stream(self, system_id: str, delivery_id: str) -> FetchedStream:
        return self.pull.fetch_stream(system_id, delivery_id)

    def update_status(self, system_id: str, delivery_id: str, status: TransportStatus) -> None:
        self.pull.update_status(system_id, delivery_id, status)

    def list_sent(self, system_id: str, doc_id: str | None) -> Sequence[SentRow]:
        return self.pull.list_sent(system_id, doc_id)

    def list_agencies(self, system_id: str) -> Sequence[AgencyRecord]:
        return self.pull.list_agencies(system_id)

    def register_agency(self, system_id: str, record: AgencyRecord) -> None:
        self.pull.register_agency(system_id, record)

    def delete_agency(self, system_id: str, code: str) -> None:
        self.pull.delete_agency(system_id, code)

    def timeline(self, doc_id: str) -> Sequence[TimelineEntry]:
        return self.pull.timeline(doc_id)


def _conforms(service: HubServices) -> HubService:
    """Static proof (mypy) that :class:`HubServices` implements the contract."""
    return service
