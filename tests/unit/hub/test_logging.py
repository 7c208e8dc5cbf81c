"""The operators' log: the AMQP libraries' reconnection tracebacks become one WARNING line."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from hub.entrypoints.logs import configure_logging, reset_logging


def test_a_broker_node_going_away_is_one_warning_line_without_a_traceback(tmp_path: Path) -> None:
    out = io.StringIO()
    configure_logging(tmp_path, stream=out)
    try:
        try:
            raise ConnectionError("CONNECTION_FORCED - broker forced connection closure")
        except ConnectionError:
            logging.getLogger("aiormq.connection").exception("Unexpected connection close")
        try:
            raise ValueError("a bug of ours")
        except ValueError:
            logging.getLogger("hub.services").exception("something failed")
    finally:
        reset_logging()
    lines = out.getvalue().splitlines()
    broker = [line for line in lines if "aiormq.connection" in line]
    assert len(broker) == 1
    assert "WARNING" in broker[0]
    assert "ConnectionError: CONNECTION_FORCED" in broker[0]
    # Our own errors keep their traceback.
    assert "Traceback (most recent call last)" in out.getvalue()
    assert "ValueError: a bug of ours" in out.getvalue()
