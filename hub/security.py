"""Security events: the one emitter, the categories a monitoring centre sorts them by, and the
per-system rate-anomaly watch.

Every place that refuses something for a security reason calls :func:`emit` (the HTTP gate,
the console's login and forms, the intake's refusals of bad packages). One event is one JSON
object on the ``lienthong.security`` logger; :mod:`hub.entrypoints.logs` writes that logger to
``<data_dir>/security.jsonl`` (rotated by size, kept by count and age) and, when configured, to
syslog in RFC 5424 format. The line's shape is ``schemas/security-event.schema.json``:

``at``, ``level``, ``logger``   added by the writer (UTC ISO 8601, ``WARNING``…, the logger)
``event``                       what happened (``request_refused``, ``login_failed``…)
``category``                    one of :data:`CATEGORIES` — what a SIEM rule keys on
``remote``                      the client's address, when there is one
``system_id`` / ``actor``       the API system or the console account concerned, when known
``reason``, ``code``, …         the event's own facts — never a secret, a password or a body

Rate anomalies: :class:`RateWatch` counts refusals per system over a sliding minute and emits
one ``rate_anomaly`` event per system and window once the count passes a threshold (a system
whose secret leaked, or a connector in a retry storm).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

SECURITY_LOGGER = "lienthong.security"
security_log = logging.getLogger(SECURITY_LOGGER)

#: The categories of the schema (``category``), by the issue's list of what the centre watches.
CATEGORIES: tuple[str, ...] = (
    "auth_failed",  # unknown system, malformed authentication, a console login refused
    "hmac_mismatch",  # a request whose HMAC does not verify
    "stale_request",  # a timestamp outside the freshness window
    "replayed_request",  # a request seen before
    "login_throttled",  # a console login refused because of earlier failures
    "csrf_refused",  # a console form without a good CSRF token or origin
    "access_refused",  # a console page asked for without the right (role, loopback)
    "bad_signature",  # a package whose signature does not verify or is not trusted
    "malformed_package",  # bytes that are not safe XML / a readable edXML package
    "unknown_agency",  # an unknown recipient or sender agency
    "request_refused",  # any other refusal of the API door (size, rate, rights)
    "rate_anomaly",  # too many refusals for one system in a minute
    "monitoring",  # the hub's own alarms (TSA outage, peer credential refused)
)


def category_of_refusal(code: str, reason: str | None) -> str:
    """The category of an API refusal from its error code and the verifier's reason."""
    text = (reason or "").lower()
    if "hmac" in text:
        return "hmac_mismatch"
    if code == "auth.replayed" or "replay" in text or "seen before" in text:
        return "replayed_request"
    if "timestamp too old" in text or "future" in text:
        return "stale_request"
    if code.startswith("auth."):
        return "auth_failed"
    if "signature." in code:  # signature.* and policy.signature.* (the sender's policy)
        return "bad_signature"
    if "agency." in code or "recipient" in code:
        return "unknown_agency"
    if code.startswith(("xml.", "edxml.", "profile.", "policy.profile")):
        return "malformed_package"
    return "request_refused"


def emit(event: str, category: str, *, level: int = logging.WARNING, **fields: Any) -> None:
    """Write one security event (module docstring). ``fields`` must be JSON-able facts."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown security event category {category!r}")
    body = {"event": event, "category": category, **fields}
    security_log.log(level, json.dumps(body, ensure_ascii=False, default=str))


class RateWatch(logging.Handler):
    """A handler on the security logger: ``threshold`` refusals for one ``system_id`` within
    ``window_s`` seconds → one ``rate_anomaly`` event for that system and window."""

    def __init__(
        self,
        threshold: int = 30,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(logging.INFO)
        self.threshold = threshold
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._reported: dict[str, float] = {}
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = json.loads(record.getMessage())
        except ValueError:
            return
        if not isinstance(fields, dict) or fields.get("category") == "rate_anomaly":
            return
        system = fields.get("system_id")
        if not isinstance(system, str) or not system:
            return
        now = self._clock()
        with self._guard:
            times = self._seen.setdefault(system, deque())
            times.append(now)
            while times and now - times[0] > self.window_s:
                times.popleft()
            count = len(times)
            last = self._reported.get(system)
            due = count >= self.threshold and (last is None or now - last > self.window_s)
            if due:
                self._reported[system] = now
        if due:
            emit(
                "rate_anomaly",
                "rate_anomaly",
                level=logging.ERROR,
                system_id=system,
                refusals=count,
                window_s=self.window_s,
                threshold=self.threshold,
            )
