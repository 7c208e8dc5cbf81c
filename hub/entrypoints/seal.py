"""Wiring of the agency-seal service (:mod:`signing.seal_service`) onto a built hub.

The seal service needs two things only the hub's store knows: which agencies a system hosts,
and the audit trail. :func:`build_seal_service` answers both from the hub's unit of work — one
short read transaction per request for the hosted set, one write transaction per audit row —
and builds the key pool from :class:`signing.seal_service.SealKeyConfig` entries, with a
timestamp authority when one is configured (PAdES B-T, else B-B).

The verifier passed in should be the hub's own PDF verifier (same trust anchors, same verdict
cache): a PDF checked at intake is then not verified twice.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from hub.ports import AuditRow, UnitOfWorkFactory
from signing.pdf_sign import http_timestamper
from signing.pdf_verify import PdfVerifier
from signing.seal_service import SealKeyConfig, SealKeyPool, SealPolicy, SealService


def build_seal_service(
    uow: UnitOfWorkFactory,
    keys: Collection[SealKeyConfig],
    verifier: PdfVerifier,
    *,
    tsa_url: str | None = None,
    policy: SealPolicy | None = None,
    env: Mapping[str, str] | None = None,
) -> SealService:
    """A :class:`SealService` over the hub's store ``uow``; ``tsa_url`` makes seals PAdES B-T.

    ``env`` is where the keys' PINs are read (default: the process environment). Keys are
    opened on their first use, so a wrong PIN shows on the first seal of that agency (a
    ``key.*`` error) rather than stopping the hub.
    """

    def hosts(system_id: str) -> tuple[str, ...]:
        with uow() as unit:
            return unit.systems.agencies(system_id)

    def audit(row: AuditRow) -> None:
        with uow() as unit:
            unit.audit.append(row)
            unit.commit()

    timestamper = http_timestamper(tsa_url) if tsa_url else None
    pool = SealKeyPool(keys, timestamper=timestamper, env=env)
    return SealService(pool, verifier, hosts=hosts, audit=audit, policy=policy)
