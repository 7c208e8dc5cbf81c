"""The national registry as a VXP peer keeps it: :class:`hub.ports.PeerDirectory` (with the
optional :class:`hub.ports.PeerDirectoryDetails`) over :class:`adapters.vxp_client.VxpClient`.

Rows are read with the registry loaders (:func:`hub.agency.loading.agencies_from_records`), the
same code that imports a registry file, so a synced list and an imported file mean the same:
``getAgenciesList`` (``{id, pid, code, name, mail, oldCode}``: ``pid`` resolved to the parent's
code), ``getAgenciesListQD20`` (``{id, code, name, mail, code102}``: ``code`` is the QĐ 20
form) and ``getSynchronizeUnit`` (the ``getAgenciesList`` keys plus ``deleted``, ``version``,
``modifyDate``). A record without a code or a name makes the whole answer unreadable
(:class:`hub.errors.InternalError` ``registry.invalid``): the sync keeps the stored registry.
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.vxp_client import VxpClient
from hub.agency.loading import agencies_from_records
from hub.agency.registry import Agency
from hub.ports import AgencyRow


def _row(agency: Agency, source: str, *, deleted: bool = False) -> AgencyRow:
    return AgencyRow(
        code=agency.code,
        name=agency.name,
        code_qd20=agency.code_qd20,
        parent_code=agency.parent_code,
        level=agency.level,
        email=agency.email,
        source=source,
        deleted=deleted,
    )


class VxpDirectory:
    """The agency operations of one VXP peer (``source`` names it on the rows)."""

    def __init__(self, client: VxpClient, source: str) -> None:
        self._client = client
        self.source = source

    def __repr__(self) -> str:
        return f"VxpDirectory({self._client!r})"

    def agencies(self) -> Sequence[AgencyRow]:
        records = self._client.get_agencies_list()
        where = f"{self._client.endpoint} getAgenciesList"
        return [_row(a, self.source) for a in agencies_from_records(records, where)]

    def agencies_qd20(self) -> Sequence[AgencyRow]:
        records = self._client.get_agencies_list_qd20()
        where = f"{self._client.endpoint} getAgenciesListQD20"
        return [_row(a, self.source) for a in agencies_from_records(records, where)]

    def agency_changes(self) -> Sequence[AgencyRow]:
        records = self._client.get_synchronize_unit()
        where = f"{self._client.endpoint} getSynchronizeUnit"
        agencies = agencies_from_records(records, where)
        return [
            _row(a, self.source, deleted=_flag(r.get("deleted")))
            for a, r in zip(agencies, records, strict=True)
        ]

    def register(self, agency: AgencyRow) -> None:
        self._client.register_agency(
            {
                "id": agency.code,
                "pcode": agency.parent_code or "",
                "code": agency.code,
                "name": agency.name,
                "mail": agency.email or "",
                "mobile": "",
                "fax": "",
            }
        )

    def delete(self, code: str) -> None:
        self._client.delete_agency(code)


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1")
