"""Security events (``hub.security``, ``hub.entrypoints.logs``): one emitter, a documented JSON
schema (``schemas/security-event.schema.json``), a file rotated by size and kept by count and
age, RFC 5424 syslog over a real UDP socket on loopback, and the per-system rate watch."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema_rs
import pytest

from hub.entrypoints.logs import (
    SECURITY_FILE,
    RetainedFileHandler,
    configure_logging,
    reset_logging,
)
from hub.resources import data_path
from hub.security import CATEGORIES, RateWatch, category_of_refusal, emit
from hub.settings import SecurityEventSettings

SCHEMA = json.loads(Path(data_path("schemas", "security-event.schema.json")).read_text())


@pytest.fixture
def udp() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))  # a free port from the OS
    sock.settimeout(5)
    yield sock
    sock.close()


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    reset_logging()


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_events_are_json_lines_that_follow_the_schema(logs: Path) -> None:
    path = configure_logging(logs, stream=io.StringIO())
    assert path.name == SECURITY_FILE
    emit("login_failed", "auth_failed", actor="ana", remote="10.0.0.7", reason="wrong password")
    emit("request_refused", "hmac_mismatch", system_id="qlvb.xa", code="auth.failed")
    logging.getLogger("lienthong.security").warning("not json at all")
    validator = jsonschema_rs.validator_for(SCHEMA)
    lines = _lines(path)
    assert [x.get("event") for x in lines] == ["login_failed", "request_refused", "log_message"]
    for line in lines:
        validator.validate(line)
    assert lines[0]["category"] == "auth_failed"
    assert lines[0]["logger"] == "lienthong.security"
    with pytest.raises(ValueError, match="category"):
        emit("x", "no-such-category")
    assert set(SCHEMA["properties"]["category"]["enum"]) == set(CATEGORIES)


def test_syslog_rfc5424_over_udp(logs: Path, udp: socket.socket) -> None:
    host, port = udp.getsockname()
    events = SecurityEventSettings(syslog=f"{host}:{port}")
    configure_logging(logs, stream=io.StringIO(), events=events)
    emit("login_throttled", "login_throttled", actor="ana", remote="10.0.0.7", retry_after_s=60)
    data, _ = udp.recvfrom(65536)
    text = data.decode("utf-8")
    # <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA BOM MSG
    m = re.fullmatch(
        r"<(\d+)>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+) lienthong (\d+) (\S+) - "
        r"\ufeff(\{.*\})",
        text,
    )
    assert m is not None, text
    assert int(m.group(1)) == 10 * 8 + 4  # authpriv.warning
    assert int(m.group(4)) == os.getpid()
    assert m.group(5) == "login_throttled"
    body = json.loads(m.group(6))
    jsonschema_rs.validator_for(SCHEMA).validate(body)
    assert (body["category"], body["retry_after_s"]) == ("login_throttled", 60)


def test_the_file_rotates_by_size_and_old_rotations_are_deleted(logs: Path) -> None:
    events = SecurityEventSettings(max_bytes=2000, backups=3, max_age_days=1)
    path = configure_logging(logs, stream=io.StringIO(), events=events)
    for i in range(40):
        emit("request_refused", "request_refused", system_id="qlvb.xa", n=i, pad="x" * 100)
    rotated = sorted(p.name for p in logs.glob(SECURITY_FILE + ".*"))
    assert rotated == [f"{SECURITY_FILE}.{n}" for n in (1, 2, 3)]  # kept by count
    two_days_ago = time.time() - 2 * 86400
    os.utime(logs / f"{SECURITY_FILE}.2", (two_days_ago, two_days_ago))
    [handler] = [
        h
        for h in logging.getLogger("lienthong.security").handlers
        if isinstance(h, RetainedFileHandler)
    ]
    handler.doRollover()  # .2 (two days old) becomes .3 and is deleted; .1 becomes .2
    rotated = sorted(p.name for p in logs.glob(SECURITY_FILE + ".*"))
    assert rotated == [f"{SECURITY_FILE}.{n}" for n in (1, 2)]
    assert path.exists()


def test_a_burst_of_refusals_for_one_system_is_one_rate_anomaly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    watch = RateWatch(threshold=5, window_s=60, clock=lambda: now[0])
    security = logging.getLogger("lienthong.security")
    security.addHandler(watch)
    try:
        with caplog.at_level(logging.INFO, logger="lienthong.security"):
            for _ in range(12):
                emit("request_refused", "hmac_mismatch", system_id="qlvb.xa")
                emit("request_refused", "hmac_mismatch", system_id=None)  # no system: not counted
                now[0] += 1
            now[0] += 61  # a new window: the burst goes on, a second event
            for _ in range(5):
                emit("request_refused", "hmac_mismatch", system_id="qlvb.xa")
            emit("request_refused", "hmac_mismatch", system_id="qlvb.huyen")
    finally:
        security.removeHandler(watch)
    anomalies = [
        json.loads(r.getMessage())
        for r in caplog.records
        if json.loads(r.getMessage())["event"] == "rate_anomaly"
    ]
    assert [(a["system_id"], a["refusals"]) for a in anomalies] == [("qlvb.xa", 5)] * 2
    assert anomalies[0]["category"] == "rate_anomaly"


@pytest.mark.parametrize(
    ("code", "reason", "category"),
    [
        ("auth.failed", "bad HMAC", "hmac_mismatch"),
        ("auth.failed", "timestamp too old", "stale_request"),
        ("auth.failed", "timestamp in the future", "stale_request"),
        ("auth.failed", "unknown system", "auth_failed"),
        ("auth.replayed", None, "replayed_request"),
        ("policy.signature.invalid", None, "bad_signature"),
        ("policy.signature.untrusted", None, "bad_signature"),
        ("xml.malformed", None, "malformed_package"),
        ("edxml.invalid", None, "malformed_package"),
        ("agency.unknown", None, "unknown_agency"),
        ("request.too_large", None, "request_refused"),
    ],
)
def test_refusals_are_sorted_into_categories(code: str, reason: str | None, category: str) -> None:
    assert category_of_refusal(code, reason) == category
