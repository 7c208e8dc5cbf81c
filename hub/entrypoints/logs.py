"""Logging for the long-running commands (``lienthong run`` / ``serve`` / ``worker``).

Two audiences, two shapes:

* **Operators** read human-readable lines on stderr (time, level, logger, message).
* **The provincial security-monitoring centre** ingests the ``lienthong.security`` events as
  JSON lines (:mod:`hub.security`, schema ``schemas/security-event.schema.json``): every event
  of that logger is ALSO appended to ``<data_dir>/security.jsonl``, one JSON object per line,
  rotated by size and kept by count and age (``security_events.*``), so a collector can tail
  the file without parsing prose; and, with ``security_events.syslog: host:port``, sent as
  RFC 5424 syslog messages over UDP (facility ``authpriv``, APP-NAME ``lienthong``, MSGID the
  event, MSG the same JSON object). A :class:`hub.security.RateWatch` on the same logger turns
  a burst of refusals for one system into a ``rate_anomaly`` event.

The HTTP gate (``adapters/http/gate.py``) already logs each refusal as a JSON document naming the
system, the reason and the request's hash-header — never the secret, never a package body.
:class:`JsonLineFormatter` adds the time, level and logger around it; a message that is not JSON
(a traceback from a failing audit hook) is wrapped as ``{"event": "log_message", "message": …}``
so every line parses and follows the schema.

The AMQP libraries (aiormq, aio-pika) log a broker node going away — a restart, a cluster node
stopped — with whole tracebacks at ERROR, though the robust connection reconnects by itself:
:class:`BrokerNoiseFilter` turns those into one WARNING line naming the exception, so an
operator's log shows the event without a wall of frames (the adapter logs what it does about it).

Idempotent: calling :func:`configure_logging` twice (tests, a command calling another) replaces
the handlers it installed instead of adding duplicates.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from hub.security import SECURITY_LOGGER, RateWatch
from hub.settings import SecurityEventSettings

SECURITY_FILE = "security.jsonl"

_MARK = "_lienthong_handler"
#: Levels :func:`configure_logging` replaced, put back by :func:`reset_logging`.
_SAVED_LEVELS: dict[str, int] = {}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: ``at``, ``level``, ``logger`` and the event's own fields."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        try:
            event = json.loads(message)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            event = {"event": "log_message", "message": message}
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        line: dict[str, Any] = {
            "at": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
        }
        line.update(event)
        return json.dumps(line, ensure_ascii=False, default=str)


class Rfc5424Formatter(JsonLineFormatter):
    """``1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - BOM MSG`` (RFC 5424 §6; the handler puts
    the ``<PRI>`` in front): MSGID is the event's name, MSG its JSON line in UTF-8."""

    def __init__(self) -> None:
        super().__init__()
        self.hostname = (socket.gethostname() or "-")[:255]

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        event = str(json.loads(line).get("event") or "-")
        msgid = "".join(c for c in event if 33 <= ord(c) <= 126)[:32] or "-"
        stamp = dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
        stamp = stamp.replace("+00:00", "Z")
        return f"1 {stamp} {self.hostname} lienthong {os.getpid()} {msgid} - \ufeff{line}"


class RetainedFileHandler(logging.handlers.RotatingFileHandler):
    """Rotation by size; at each rotation, rotated files older than ``max_age_s`` go too."""

    def __init__(self, path: Path, max_bytes: int, backups: int, max_age_s: float) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self.max_age_s = max_age_s

    def doRollover(self) -> None:
        super().doRollover()
        if self.max_age_s <= 0:
            return
        oldest = time.time() - self.max_age_s
        for n in range(1, self.backupCount + 1):
            old = Path(f"{self.baseFilename}.{n}")
            try:
                if old.stat().st_mtime < oldest:
                    old.unlink()
            except FileNotFoundError:
                continue


def syslog_handler(target: str) -> logging.Handler:
    """An RFC 5424 syslog handler over UDP to ``host:port``."""
    host, _, port = target.rpartition(":")
    handler = logging.handlers.SysLogHandler(
        (host.strip("[]"), int(port)),
        facility=logging.handlers.SysLogHandler.LOG_AUTHPRIV,
        socktype=socket.SOCK_DGRAM,
    )
    handler.append_nul = False
    handler.setFormatter(Rfc5424Formatter())
    return handler


class BrokerNoiseFilter(logging.Filter):
    """One line, at most WARNING, without the traceback, for the AMQP libraries' records."""

    PREFIXES = ("aiormq", "aio_pika")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(self.PREFIXES):
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
                record.args = None
                record.exc_info = None
                record.exc_text = None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def configure_logging(
    data_dir: Path,
    *,
    level: int = logging.INFO,
    stream: TextIO | None = None,
    events: SecurityEventSettings | None = None,
) -> Path:
    """Install the stderr and security handlers (file, syslog, rate watch); return the security
    file's path. ``events`` defaults to :class:`SecurityEventSettings`' defaults."""
    events = events or SecurityEventSettings()
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECURITY_FILE
    reset_logging()
    root = logging.getLogger()
    security = logging.getLogger(SECURITY_LOGGER)
    _SAVED_LEVELS.update({"": root.level, SECURITY_LOGGER: security.level})

    console = logging.StreamHandler(stream or sys.stderr)
    console.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    console.addFilter(BrokerNoiseFilter())
    setattr(console, _MARK, True)
    root.addHandler(console)
    root.setLevel(level)
    # httpx logs every request at INFO; the inbound loop polls peers every few seconds, and the
    # VXP client already logs each call it makes that changes something (with its hash-header).
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))

    jsonl = RetainedFileHandler(path, events.max_bytes, events.backups, events.max_age_days * 86400)
    jsonl.setFormatter(JsonLineFormatter())
    handlers: list[logging.Handler] = [jsonl, RateWatch(events.anomaly_threshold)]
    if events.syslog:
        handlers.append(syslog_handler(events.syslog))
    for handler in handlers:
        handler.setLevel(logging.INFO)
        setattr(handler, _MARK, True)
        security.addHandler(handler)
    security.setLevel(logging.INFO)
    # The security events also reach stderr through the root logger (propagation stays on).
    return path


def reset_logging() -> None:
    """Remove (and close) the handlers :func:`configure_logging` installed."""
    for logger in (logging.getLogger(), logging.getLogger(SECURITY_LOGGER)):
        for handler in [h for h in logger.handlers if getattr(h, _MARK, False)]:
            logger.removeHandler(handler)
            handler.close()
    for name, level in _SAVED_LEVELS.items():
        logging.getLogger(name or None).setLevel(level)
    _SAVED_LEVELS.clear()
