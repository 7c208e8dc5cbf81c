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
from typing import TYPE_CHECKING

from hub.ports import AuditRow, UnitOfWorkFactory
from hub.settings import Settings

if TYPE_CHECKING:  # pyHanko loads only when a seal key is configured
    from signing.pdf_verify import PdfVerifier
    from signing.seal_service import SealKeyConfig, SealPolicy, SealService


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

    from signing.pdf_sign import http_timestamper
    from signing.seal_service import SealKeyPool, SealService

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


def seal_service_from_settings(settings: Settings, uow: UnitOfWorkFactory) -> SealService | None:
    """The seal service the settings ask for (``seal.keys``, ``seal.tsa_url``), verifying the
    person's signature against the hub's trust anchors; ``None`` when no key is configured."""
    if not settings.seal_keys:
        return None
    from signing.pdf_verify import PdfVerifier
    from signing.seal_service import SealKeyConfig
    from signing.trust import TrustEvaluator, TrustPolicy, TrustStore

    anchors = b"".join(p.read_bytes() for p in settings.trust_anchors)
    store = TrustStore.from_pem(anchors) if anchors else TrustStore(anchors=())
    trust = TrustPolicy(allow_network=settings.trust_network, crl_files=tuple(settings.crl_files))
    keys = [
        SealKeyConfig(
            agency_code=k.agency_code,
            key_ref=k.key,
            agency_name=k.name,
            seal_image=k.image,
            pin_env=k.pin_env,
            pool_size=k.pool,
        )
        for k in settings.seal_keys
    ]
    return build_seal_service(
        uow, keys, PdfVerifier(TrustEvaluator(store, trust)), tsa_url=settings.seal_tsa_url
    )
