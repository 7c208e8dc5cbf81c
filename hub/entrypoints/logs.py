"""Logging for the long-running commands (``lienthong run`` / ``serve`` / ``worker``).

Two audiences, two shapes:

* **Operators** read human-readable lines on stderr (time, level, logger, message).
* **The provincial security-monitoring centre** ingests the ``lienthong.security`` events as
  JSON lines: every event of that logger is ALSO appended to ``<data_dir>/security.jsonl``, one
  JSON object per line, rotated by size (:class:`logging.handlers.RotatingFileHandler`), so a
  collector can tail the file without parsing prose.

The HTTP gate (``adapters/http/gate.py``) already logs each refusal as a JSON document naming the
system, the reason and the request's hash-header — never the secret, never a package body.
:class:`JsonLineFormatter` adds the time, level and logger around it; a message that is not JSON
(a traceback from a failing audit hook) is wrapped as ``{"message": …}`` so every line parses.

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
import sys
from pathlib import Path
from typing import Any, TextIO

SECURITY_LOGGER = "lienthong.security"
SECURITY_FILE = "security.jsonl"
#: Rotation of the security file: 10 MiB × 10 files (the centre collects continuously).
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 10

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
            event = {"message": message}
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        line: dict[str, Any] = {
            "at": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
        }
        line.update(event)
        return json.dumps(line, ensure_ascii=False, default=str)


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
    data_dir: Path, *, level: int = logging.INFO, stream: TextIO | None = None
) -> Path:
    """Install the stderr and security-file handlers; return the security file's path."""
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

    jsonl = logging.handlers.RotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
    )
    jsonl.setFormatter(JsonLineFormatter())
    jsonl.setLevel(logging.INFO)
    setattr(jsonl, _MARK, True)
    security.addHandler(jsonl)
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
