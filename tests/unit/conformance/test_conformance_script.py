"""The conformance script and protocol checks, sans I/O: steps, time limits, outcomes."""

from __future__ import annotations

import datetime as dt
import hashlib

from hub.conformance.checks import (
    RecordedRequest,
    check_authentication,
    check_hash_file,
    check_header_charset,
    check_timestamps,
    signed_params,
)
from hub.conformance.script import (
    Action,
    Fetched,
    Outcome,
    Refused,
    Script,
    StatusArrived,
    StatusesPulled,
    VendorEdoc,
)
from hub.vxp.wire import JSON_CT, format_timestamp, lossy_hash_file, sign_headers

T0 = dt.datetime(2026, 12, 4, 2, 0, 0, tzinfo=dt.UTC)
LIMIT = dt.timedelta(seconds=30)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def request(
    seq: int,
    when: dt.datetime,
    *,
    path: str = "/getReceivedEdocList",
    stamp: dt.datetime | None = None,
    body: bytes = b"{}",
    status: int = 200,
    params: dict[str, str] | None = None,
    hash_file: str | None = None,
    extra: tuple[tuple[str, str], ...] = (),
) -> RecordedRequest:
    headers = tuple(
        sign_headers(
            system_id="qlvb.vendor",
            secret="s3cret",
            timestamp=format_timestamp(stamp or when),
            content_type=JSON_CT,
            params=params or {},
            hash_file=hash_file,
        )
    )
    raw = tuple((k, v.encode("utf-8").decode("latin-1")) for k, v in headers) + extra
    return RecordedRequest(
        seq=seq,
        at=when,
        method="POST",
        path=path,
        headers=raw,
        body_size=len(body),
        body_sha256=hashlib.sha256(body).hexdigest(),
        body_sha256_less_crlf=(
            hashlib.sha256(body[:-2]).hexdigest() if body.endswith(b"\r\n") else None
        ),
        body_excerpt=body[:100].decode("utf-8", "replace"),
        status=status,
        reply_excerpt='{"status":"FAIL","ErrorDesc":"bad"}' if status >= 400 else "{}",
        signed=signed_params(raw),
    )


def test_steps_start_in_order_and_the_actions_follow() -> None:
    script = Script.build(LIMIT)
    assert script.advance(at(0)) == [Action("send", "new")]
    assert script.step("receive.update").outcome is Outcome.PENDING
    script.observe(Fetched("new"), at(1))
    assert script.advance(at(1)) == [Action("send", "update")]
    assert script.step("receive.new").outcome is Outcome.PASSED
    assert script.step("status.update.15_16").outcome is Outcome.RUNNING


def test_a_status_passes_only_its_own_step_and_codes() -> None:
    script = Script.build(LIMIT)
    script.advance(at(0))
    script.observe(StatusArrived("new", "03", None), at(1))
    assert script.step("status.new.03").outcome is Outcome.PASSED
    assert script.step("status.new.01").outcome is Outcome.RUNNING
    script.observe(StatusArrived("new", "99", None), at(1))
    assert script.step("status.new.06").outcome is Outcome.RUNNING


def test_a_step_times_out_naming_what_it_waited_for() -> None:
    script = Script.build(LIMIT)
    script.advance(at(0))
    script.advance(at(31))
    step = script.step("status.new.06")
    assert step.outcome is Outcome.TIMED_OUT
    assert step.reason_en == "no status 06 arrived within 30 s"


def test_a_refused_push_fails_the_push_and_skips_what_requires_it() -> None:
    script = Script.build(LIMIT)
    script.advance(at(0))
    bad = request(1, at(1), path="/sendEdoc", status=400, params={"messagetype": "edoc"})
    script.observe(Refused(bad), at(1))
    push = script.step("push.edoc")
    assert push.outcome is Outcome.FAILED
    assert push.request is bad
    assert "HTTP 400" in push.reason_en
    script.advance(at(2))
    assert script.step("push.statuses").outcome is Outcome.FAILED
    assert "not run" in script.step("push.statuses").reason_en


def test_a_vendor_document_with_problems_fails_and_statuses_complete_the_push() -> None:
    script = Script.build(LIMIT)
    script.advance(at(0))
    script.observe(VendorEdoc(("a.pdf: signature s1 is not intact and valid",), None), at(1))
    assert script.step("push.edoc").outcome is Outcome.FAILED

    script = Script.build(LIMIT)
    script.advance(at(0))
    script.observe(VendorEdoc((), None), at(1))
    assert script.advance(at(1)) == [Action("answer", "vendor")]
    script.observe(StatusesPulled(2), at(2))
    assert script.step("push.statuses").outcome is Outcome.RUNNING
    script.observe(StatusesPulled(3), at(3))
    assert script.step("push.statuses").outcome is Outcome.PASSED


def test_the_run_is_done_only_after_the_protocol_checks() -> None:
    script = Script.build(LIMIT)
    script.advance(at(0))
    script.advance(at(200))  # everything running times out, then the rest starts
    script.advance(at(400))
    script.advance(at(600))
    script.advance(at(800))
    assert script.behaviour_done
    assert not script.done
    script.finish([])
    assert script.done
    assert not script.passed
    assert {c.passed for c in script.checks} == {False}
    assert script.checks[0].reason_en == "no request from the connector reached the bench"


def test_fresh_timestamps_pass_and_a_frozen_one_fails_with_its_request() -> None:
    fresh = [request(i, at(i * 5)) for i in range(3)]
    assert check_timestamps(fresh).passed
    frozen = [request(i, at(i * 5), stamp=T0) for i in range(3)]
    result = check_timestamps(frozen)
    assert not result.passed
    assert result.request is frozen[1]
    assert "reused 5 s later" in result.reason_en


def test_a_timestamp_far_from_the_arrival_time_fails() -> None:
    result = check_timestamps([request(1, at(0), stamp=at(-600))])
    assert not result.passed
    assert "600 s away" in result.reason_en


def test_header_values_must_be_utf8() -> None:
    good = request(1, at(0), extra=(("XroadVnpt-name", "Sở".encode().decode("latin-1")),))
    assert check_header_charset([good]).passed
    # The SDK with an explicit port: each character truncated to its low byte ("Sở" → "S\xdf").
    truncated = request(2, at(1), extra=(("XroadVnpt-name", "S\xdf"),))
    result = check_header_charset([good, truncated])
    assert not result.passed
    assert result.request is truncated


def test_hash_file_in_either_form_passes_and_a_wrong_one_fails() -> None:
    package = b"<edXML>\x00\x01</edXML>"
    lossy = request(
        1,
        at(0),
        path="/sendEdoc",
        body=package + b"\r\n",
        params={"hash-file": lossy_hash_file(package)},
    )
    plain = request(
        2,
        at(1),
        path="/sendEdoc",
        body=package,
        params={"hash-file": hashlib.sha256(package).hexdigest()},
    )
    result = check_hash_file([lossy, plain])
    assert result.passed
    assert result.reason_en == "form used: hex, lossy"
    wrong = request(3, at(2), path="/sendEdoc", body=package, params={"hash-file": "00" * 32})
    failed = check_hash_file([lossy, wrong])
    assert not failed.passed
    assert failed.request is wrong
    assert not check_hash_file([request(4, at(3))]).passed  # no sendEdoc at all


def test_an_authentication_refusal_fails_the_check() -> None:
    ok = request(1, at(0))
    refused = request(2, at(1), status=401)
    assert check_authentication([ok]).passed
    result = check_authentication([ok, refused])
    assert not result.passed
    assert result.request is refused
