"""The agency registry: who exists, under whom, until when, and who took over.

Contract: a :class:`Registry` is an immutable value built from :class:`Agency` records; its
lookups never do I/O. The loaders (:func:`load_registry`, :func:`load_sample_registry`) are the
only functions here that read files, and they return a finished ``Registry``.

What the registry knows that arithmetic does not (QCVN 102:2016 mã định danh; QĐ 09/2025/QĐ-TTg):

* **Parents are data.** Each record names its parent (``pcode`` / ``pid`` in the national
  registry); zeroing the leftmost non-zero group of a code is used only when a record names no
  parent, and then repeatedly until a registered ancestor is found.
* **Codes close and have successors.** Since 1 July 2025 the district level is abolished and
  merged provinces keep one level-1 code; documents and replies addressed to closed codes still
  arrive. :meth:`Registry.resolve` follows ``successor_code`` links from a closed agency to the
  live one and returns the chain it followed, so routing can say what it did. A successor cycle
  in the data is an :class:`~hub.errors.InternalError` (``registry.successor_cycle``) naming the
  cycle — the registry is ours to fix, the sender did nothing wrong.
* **Two code forms.** An agency is found by its QCVN 102 code, its QĐ 20 code or a former code,
  each compared after NFC normalisation and upper-casing (:func:`hub.agency.codes.lookup_key`).

``valid_to`` is exclusive: the first day the code is no longer in force (a district closed on
2025-07-01 has ``valid_to = 2025-07-01`` and is live on 2025-06-30).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from hub.agency.codes import AgencyCode, lookup_key
from hub.errors import InternalError, NotFound


def _nfc(text: str | None) -> str | None:
    return unicodedata.normalize("NFC", text).strip() if text is not None else None


@dataclass(frozen=True, slots=True)
class Agency:
    """One registered agency (cơ quan, tổ chức) as the hub routes to it."""

    #: The primary code, normally the QCVN 102 form used in edXML ``OrganId``.
    code: str
    #: The full Vietnamese name (NFC).
    name: str
    #: The QĐ 20/2020 form of the code, when known.
    code_qd20: str | None = None
    #: The parent's code as registered (``None``: a top-level body, or unknown).
    parent_code: str | None = None
    #: The level as registered; ``None`` means "derive it from the code".
    level: int | None = None
    #: The id of the document system (QLVB) that hosts this agency's mailbox, if known.
    system_id: str | None = None
    #: First day in force (inclusive); ``None``: since always.
    valid_from: dt.date | None = None
    #: First day no longer in force (exclusive); ``None``: still in force.
    valid_to: dt.date | None = None
    #: The code of the agency that took over when this one closed.
    successor_code: str | None = None
    #: The official mailbox (thư điện tử công vụ).
    email: str | None = None
    #: Codes this agency was known by before (the national registry's ``oldCode``).
    former_codes: tuple[str, ...] = ()
    #: The record id in the national registry (``id``), kept for ``pid`` links and syncing.
    registry_id: str | None = None

    def __post_init__(self) -> None:
        # NFC once, here, so every comparison downstream is between normalised strings.
        object.__setattr__(self, "code", _nfc(self.code) or "")
        object.__setattr__(self, "name", _nfc(self.name) or "")
        for name in ("code_qd20", "parent_code", "successor_code", "email"):
            value = _nfc(getattr(self, name))
            object.__setattr__(self, name, value or None)
        object.__setattr__(
            self, "former_codes", tuple(c for c in (_nfc(x) for x in self.former_codes) if c)
        )

    @property
    def parsed_code(self) -> AgencyCode:
        """The primary code, parsed."""
        return AgencyCode.parse(self.code)

    @property
    def effective_level(self) -> int | None:
        """The registered level, else the level read from the code (``None`` if malformed)."""
        return self.level if self.level is not None else self.parsed_code.level

    def is_live(self, on: dt.date) -> bool:
        """True when the agency is in force on ``on``."""
        if self.valid_from is not None and on < self.valid_from:
            return False
        return self.valid_to is None or on < self.valid_to


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where a code leads on a given day: the chain of agencies followed and the live one.

    ``chain[0]`` is the agency the code names (by any of its codes); each next element is the
    previous one's successor. ``agency`` is the last element when it is live on the day, else
    ``None`` (the chain ends at a closed agency with no successor).
    """

    requested: str
    on: dt.date
    chain: tuple[Agency, ...]
    agency: Agency | None

    @property
    def followed_successor(self) -> bool:
        """True when the code named a closed agency and a successor was taken instead."""
        return len(self.chain) > 1

    @property
    def via_alias(self) -> bool:
        """True when the requested code is not the first agency's primary code."""
        return lookup_key(self.requested) != lookup_key(self.chain[0].code)


@dataclass(frozen=True)
class Registry:
    """An immutable set of agencies with lookups by code, hierarchy and succession.

    Build it with ``Registry(agencies)``; duplicate codes (in any form) are refused with an
    :class:`~hub.errors.InternalError` (``registry.duplicate``).
    """

    agencies: tuple[Agency, ...]
    _by_key: Mapping[str, Agency] = field(init=False, repr=False, compare=False)
    _parent: Mapping[str, str | None] = field(init=False, repr=False, compare=False)
    _children: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __init__(self, agencies: Iterable[Agency]) -> None:
        items = tuple(agencies)
        by_key: dict[str, Agency] = {}
        for agency in items:
            keys = [agency.code, *agency.former_codes]
            if agency.code_qd20:
                keys.append(agency.code_qd20)
            for raw in dict.fromkeys(lookup_key(k) for k in keys):
                other = by_key.get(raw)
                if other is not None:
                    raise InternalError(
                        f"agency code {raw} registered twice ({other.code}, {agency.code})",
                        message_vi=f"mã định danh {raw} được đăng ký hai lần "
                        f"({other.code}, {agency.code})",
                        code="registry.duplicate",
                    )
                by_key[raw] = agency
        object.__setattr__(self, "agencies", items)
        object.__setattr__(self, "_by_key", MappingProxyType(by_key))
        parents: dict[str, str | None] = {}
        children: dict[str, list[str]] = {}
        for agency in items:
            parent = self._find_parent(agency, by_key)
            parents[agency.code] = parent.code if parent else None
            if parent is not None:
                children.setdefault(parent.code, []).append(agency.code)
        object.__setattr__(self, "_parent", MappingProxyType(parents))
        object.__setattr__(
            self,
            "_children",
            MappingProxyType({k: tuple(sorted(v)) for k, v in children.items()}),
        )

    @staticmethod
    def _find_parent(agency: Agency, by_key: Mapping[str, Agency]) -> Agency | None:
        if agency.parent_code:
            # Explicit parent: data wins over arithmetic (QCVN 102 registrations that zeroing
            # would get wrong exist). An explicit parent missing from the registry is kept as
            # "no parent here" rather than guessed.
            return by_key.get(lookup_key(agency.parent_code))
        code: AgencyCode | None = agency.parsed_code.fallback_parent()
        while code is not None:
            found = by_key.get(lookup_key(code.text))
            if found is not None and found is not agency:
                return found
            code = code.fallback_parent()
        return None

    # -- lookups -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.agencies)

    def __iter__(self) -> Iterator[Agency]:
        return iter(self.agencies)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and lookup_key(code) in self._by_key

    def get(self, code: str) -> Agency | None:
        """The agency known by ``code`` (QCVN 102, QĐ 20 or former code), or ``None``."""
        return self._by_key.get(lookup_key(code))

    def require(self, code: str) -> Agency:
        """Like :meth:`get`, but an unknown code raises :class:`~hub.errors.NotFound`."""
        agency = self.get(code)
        if agency is None:
            raise NotFound(
                f"unknown agency code {code!r}",
                message_vi=f"không có cơ quan mang mã định danh {code!r}",
                code="agency.unknown",
            )
        return agency

    def parent(self, code: str) -> Agency | None:
        """The parent agency: the registered parent, else the nearest registered ancestor by
        zeroing (fallback); ``None`` for a top-level body. Unknown code → ``NotFound``."""
        parent_code = self._parent[self.require(code).code]
        return self._by_key[lookup_key(parent_code)] if parent_code else None

    def children(self, code: str) -> tuple[Agency, ...]:
        """The agencies whose parent (as :meth:`parent` computes it) is ``code``."""
        own = self.require(code).code
        return tuple(self._by_key[lookup_key(c)] for c in self._children.get(own, ()))

    def subtree(self, code: str) -> tuple[Agency, ...]:
        """``code``'s agency and all its descendants, breadth first. Each agency appears once,
        so registered parent cycles (A under B, B under A) end instead of looping."""
        out = [self.require(code)]
        seen = {out[0].code}
        i = 0
        while i < len(out):
            for child in self.children(out[i].code):
                if child.code not in seen:
                    seen.add(child.code)
                    out.append(child)
            i += 1
        return tuple(out)

    def by_system(self, system_id: str) -> tuple[Agency, ...]:
        """The agencies hosted by the document system ``system_id``."""
        return tuple(a for a in self.agencies if a.system_id == system_id)

    # -- succession --------------------------------------------------------------------------

    def is_closed(self, code: str, on: dt.date) -> bool:
        """True when the agency ``code`` names is not in force on ``on``."""
        return not self.require(code).is_live(on)

    def successor_chain(self, code: str, on: dt.date) -> tuple[Agency, ...]:
        """The agency ``code`` names, then its successors while each one is closed on ``on``.

        Stops at the first live agency, or at a closed one without a successor. A successor
        code that is not registered raises ``NotFound`` (``agency.unknown``); a cycle raises
        :class:`~hub.errors.InternalError` (``registry.successor_cycle``) listing the cycle.
        """
        current = self.require(code)
        chain = [current]
        seen = {current.code}
        while not current.is_live(on) and current.successor_code:
            nxt = self.require(current.successor_code)
            if nxt.code in seen:
                cycle = " → ".join([a.code for a in chain] + [nxt.code])
                raise InternalError(
                    f"successor cycle in the agency registry: {cycle}",
                    message_vi=f"danh mục cơ quan có vòng kế thừa: {cycle}",
                    code="registry.successor_cycle",
                    details={"cycle": [a.code for a in chain] + [nxt.code]},
                )
            chain.append(nxt)
            seen.add(nxt.code)
            current = nxt
        return tuple(chain)

    def resolve(self, code: str, on: dt.date) -> Resolution:
        """Where a document addressed to ``code`` goes on ``on`` (see :class:`Resolution`)."""
        chain = self.successor_chain(code, on)
        last = chain[-1]
        return Resolution(code, on, chain, last if last.is_live(on) else None)
