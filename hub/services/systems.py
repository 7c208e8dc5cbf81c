"""Connected systems: add, list, rotate a secret (keeping the previous one), enable, disable.

Contract: :class:`SystemAdmin` is the IT staff's service (CLI ``lienthong systems …``, the
dashboard). Secrets are stored encrypted (:class:`hub.secrets.SecretBox`); the plaintext is
returned once, by :meth:`SystemAdmin.add` and :meth:`SystemAdmin.rotate`, for the operator to
hand to the system's administrators, and never again. Rotation keeps the previous secret valid
(``secret_prev_enc``) so a QLVB can switch without downtime; the next rotation drops it.
Every change leaves an audit row (without the secret).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hub.agency.codes import lookup_key
from hub.errors import Conflict, InvalidRequest, NotFound
from hub.ports import Clock, SystemClock, SystemRow, UnitOfWork, UnitOfWorkFactory
from hub.secrets import SecretBox, generate_secret
from hub.services.base import audit
from hub.services.contracts import SystemCredentials


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """A connected system as the operator sees it (no secrets)."""

    id: str
    name: str
    enabled: bool
    max_age_s: int
    agencies: tuple[str, ...]
    rotating: bool  # a previous secret is still accepted


class SystemAdmin:
    """Manage connected systems and decrypt their credentials for authentication."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        box: SecretBox,
        *,
        clock: Clock | None = None,
        default_max_age_s: int = 300,
        actor: str = "cli",
        on_change: Callable[[], None] | None = None,
        reader: UnitOfWorkFactory | None = None,
    ) -> None:
        """``reader``: units of work for the credential reads of every request (see
        :attr:`hub.services.base.Deps.reader`); ``None``: ``uow``."""
        self._uow = uow
        self._read = reader or uow
        self._on_change = on_change or (lambda: None)
        self._box = box
        self._clock = clock or SystemClock()
        self._max_age_s = default_max_age_s
        self._actor = actor

    def add(
        self,
        system_id: str,
        agencies: Sequence[str],
        *,
        name: str | None = None,
        secret: str | None = None,
        max_age_s: int | None = None,
    ) -> str:
        """Create a system hosting ``agencies``; return its secret (generated when not given)."""
        if not system_id.strip():
            raise InvalidRequest("a system id is required", message_vi="thiếu mã hệ thống")
        secret = secret or generate_secret()
        now = self._clock.now()
        with self._uow() as uow:
            if uow.systems.get(system_id) is not None:
                raise Conflict(
                    f"system {system_id!r} already exists",
                    message_vi=f"hệ thống {system_id!r} đã tồn tại",
                    code="system.duplicate",
                )
            taken = {lookup_key(k): v for k, v in uow.systems.hosting().items()}
            clash = sorted(c for c in agencies if lookup_key(c) in taken)
            if clash:
                owner = taken[lookup_key(clash[0])]
                raise Conflict(
                    f"agency {clash[0]!r} is already hosted by {owner!r}",
                    message_vi=f"cơ quan {clash[0]!r} đã thuộc hệ thống {owner!r}",
                    code="system.agency_taken",
                )
            uow.systems.add(
                SystemRow(
                    id=system_id,
                    name=name or system_id,
                    secret_enc=self._box.encrypt(secret),
                    secret_prev_enc=None,
                    enabled=True,
                    max_age_s=max_age_s if max_age_s is not None else self._max_age_s,
                    created_at=now,
                )
            )
            uow.systems.set_agencies(system_id, list(agencies))
            audit(uow, now, self._actor, "system.add", system_id, agencies=list(agencies))
            uow.commit()
        self._on_change()
        return secret

    def list(self) -> list[SystemInfo]:
        with self._uow() as uow:
            return [
                SystemInfo(
                    r.id,
                    r.name,
                    r.enabled,
                    r.max_age_s,
                    uow.systems.agencies(r.id),
                    r.secret_prev_enc is not None,
                )
                for r in uow.systems.list()
            ]

    def rotate(self, system_id: str, secret: str | None = None) -> str:
        """Give the system a new secret; the current one stays valid until the next rotation."""
        secret = secret or generate_secret()
        self._change(
            system_id,
            "system.rotate",
            lambda r: dataclasses.replace(
                r, secret_enc=self._box.encrypt(secret), secret_prev_enc=r.secret_enc
            ),
        )
        return secret

    def remove(self, system_id: str) -> tuple[str, ...]:
        """Stop hosting every agency of the system and disable it; return the codes dropped.

        The row stays (deliveries and the audit trail name it); its agencies may be hosted by
        another system from now on.
        """
        with self._uow() as uow:
            row = _require(uow, system_id)
            codes = uow.systems.agencies(system_id)
            uow.systems.set_agencies(system_id, [])
            uow.systems.update(dataclasses.replace(row, enabled=False))
            audit(uow, self._clock.now(), self._actor, "system.remove", system_id,
                  agencies=list(codes))  # fmt: skip
            uow.commit()
        self._on_change()
        return codes

    def disable(self, system_id: str) -> None:
        self._change(system_id, "system.disable", lambda r: dataclasses.replace(r, enabled=False))

    def enable(self, system_id: str) -> None:
        self._change(system_id, "system.enable", lambda r: dataclasses.replace(r, enabled=True))

    def set_agencies(self, system_id: str, agencies: Sequence[str]) -> None:
        with self._uow() as uow:
            _require(uow, system_id)
            uow.systems.set_agencies(system_id, list(agencies))
            audit(uow, self._clock.now(), self._actor, "system.agencies", system_id,
                  agencies=list(agencies))  # fmt: skip
            uow.commit()
        self._on_change()

    def credentials(self, system_id: str) -> SystemCredentials | None:
        """The system's decrypted secrets (current first), or ``None`` when unknown."""
        with self._read() as uow:
            row = uow.systems.get(system_id)
        if row is None:
            return None
        secrets = [self._box.decrypt(row.secret_enc)]
        if row.secret_prev_enc:
            secrets.append(self._box.decrypt(row.secret_prev_enc))
        return SystemCredentials(row.id, tuple(secrets), row.enabled, row.max_age_s)

    def _change(
        self, system_id: str, action: str, change: Callable[[SystemRow], SystemRow]
    ) -> None:
        with self._uow() as uow:
            row = _require(uow, system_id)
            uow.systems.update(change(row))
            audit(uow, self._clock.now(), self._actor, action, system_id)
            uow.commit()
        self._on_change()


def _require(uow: UnitOfWork, system_id: str) -> SystemRow:
    row = uow.systems.get(system_id)
    if row is None:
        raise NotFound(
            f"no system {system_id!r}",
            message_vi=f"không có hệ thống {system_id!r}",
            code="system.unknown",
        )
    return row
