"""Who may do what in the operations console: the roles and their actions, as one table.

Four roles (issue "People and access"; the clerk from issue 10):

============  ================================================================================
``operator``  watch the hub, redrive and discard dead letters
``auditor``   read-only: watch, the audit log, delivery evidence, download packages/attachments
``clerk``     the seal page only, and only for the agencies bound to the account
``admin``     everything, including systems, agencies, settings, operator accounts and seals
============  ================================================================================

A clerk (văn thư, Nghị định 30 Art. 33) seals the documents its own agency issues. It may not
``watch``: the hub's views show every agency's deliveries, which are not its business. Which
agencies it seals for is the account's agency list (:data:`BOUND_ROLES`); an admin seals for
every agency that has a seal key.

The actions are the words the console's pages check with :func:`may` before they show a
control or perform it. Anything not in the table is refused (an unknown role or action never
grants anything).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Every action a page may check.
ACTIONS: tuple[str, ...] = (
    "watch",
    "redrive",
    "discard",
    "download",
    "audit",
    "evidence",
    "systems",
    "agencies",
    "settings",
    "accounts",
    "seal",
)

#: The role table: what each role may do.
PERMISSIONS: dict[str, frozenset[str]] = {
    "operator": frozenset({"watch", "redrive", "discard"}),
    "auditor": frozenset({"watch", "audit", "evidence", "download"}),
    "clerk": frozenset({"seal"}),
    "admin": frozenset(ACTIONS),
}

ROLES: tuple[str, ...] = tuple(PERMISSIONS)

#: Roles whose rights reach only the agencies listed on the account (an empty list: none).
BOUND_ROLES: frozenset[str] = frozenset({"clerk"})


@dataclass(frozen=True, slots=True)
class Operator:
    """A person (or the shared admin token) acting in the console."""

    name: str
    """The account name, ``admin-token`` for the shared token, ``loopback`` for the
    loopback-without-login mode; written as the actor of every audited action."""
    role: str
    """One of :data:`ROLES`."""


def may(operator: Operator | None, action: str) -> bool:
    """True when ``operator``'s role allows ``action`` (``None``, nobody, may nothing)."""
    if operator is None:
        return False
    return action in PERMISSIONS.get(operator.role, frozenset())


def bound(operator: Operator | None) -> bool:
    """True when ``operator`` acts only for the agencies of its account (a clerk); such an
    operator without agencies may act for none."""
    return operator is not None and operator.role in BOUND_ROLES
