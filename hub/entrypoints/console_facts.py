"""The overview's facts about this installation — certificate expiry and storage — wired from
the settings (composition root: it alone knows where keys, anchors and the database are).

Certificates change only with the configuration, and loading a token key is slow: they are
read on first use and kept :data:`CERTIFICATES_TTL_S`. Storage is read on every call (a
``statvfs`` and one small query).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy.engine import Engine

from hub.errors import HubError
from hub.services.activity import CertificateFact, ConsoleFacts, StorageFact
from hub.settings import Settings

CERTIFICATES_TTL_S = 3600.0


def console_facts(settings: Settings, engine: Engine) -> Callable[[], ConsoleFacts]:
    """A reader of :class:`ConsoleFacts` for ``settings`` and the hub's ``engine``."""
    lock = threading.Lock()
    cached: list[tuple[float, Sequence[CertificateFact]]] = []

    def certificates() -> Sequence[CertificateFact]:
        from signing.cert_expiry import anchor_facts, key_facts

        with lock:
            if cached and time.monotonic() - cached[0][0] < CERTIFICATES_TTL_S:
                return cached[0][1]
            keys = [("seal", k.agency_code, k.key, k.pin_env) for k in settings.seal_keys]
            if settings.evidence.key:
                keys.append(("receipt", settings.evidence.key, settings.evidence.key, ""))
            facts = anchor_facts(settings.trust_anchors) + key_facts(keys)
            cached[:] = [(time.monotonic(), facts)]
            return facts

    def storage() -> StorageFact:
        from adapters.store.engine import database_size

        kind = engine.dialect.name
        free = total = size = None
        problems = []
        try:
            usage = shutil.disk_usage(settings.data_dir)
            free, total = usage.free, usage.total
        except OSError as exc:
            problems.append(f"data_dir: {type(exc).__name__}")
        try:
            size = database_size(engine)
        except (HubError, OSError) as exc:
            problems.append(f"database: {type(exc).__name__}")
        return StorageFact(
            str(settings.data_dir), free, total, kind, size, "; ".join(problems) or None
        )

    def read() -> ConsoleFacts:
        return ConsoleFacts(certificates(), storage())

    return read
