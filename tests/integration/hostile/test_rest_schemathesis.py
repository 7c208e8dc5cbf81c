"""``/api/v1`` under schemathesis: generated requests from the published OpenAPI document,
each signed for real, against a real hub (SQLite, in-process ASGI).

The auth is a ``requests`` auth object, so it signs the *prepared* request — the final method,
path with query and body bytes schemathesis is about to send — exactly as a REST client must
(``rest.py``): signed ``method`` and ``path``, and a ``hash-file`` over any body. A generated
request is therefore judged on its parameters and body, never refused for a stale signature.

Checks: every built-in check of schemathesis (no 5xx, status codes, content types, response
schemas and headers as documented…), positive and negative generation, and the stateful phase
over the OpenAPI links (push → package/ack/sent/timeline, register → delete). Bounded:
``max_examples`` per operation, no deadline; the stateful run is ``slow``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hostile_support import Caller, HostileHub, real_hub
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import (
    APIOperation,
    Case,
    CheckContext,
    CheckFunction,
    GenerationMode,
    Response,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from hub.vxp.wire import JSON_CT, format_timestamp, sign_headers
from tests.factories import make_edoc

#: Checks that cannot hold for an operation, and why. A package body is "schema-valid" as any
#: string (edXML is not expressible in JSON Schema), so schemathesis would expect random text to
#: be accepted; the refusals of such bodies are the attack-corpus tests' subject instead.
EXCLUDED = {"POST /api/v1/packages": [positive_data_acceptance]}
#: Examples per operation in the per-operation run (11 operations).
MAX_EXAMPLES = 40


class VxpRestAuth(requests.auth.AuthBase):
    """Sign each prepared request as ``caller`` (method, path with query, body digest)."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        url = urlsplit(r.url or "")
        path = url.path + (f"?{url.query}" if url.query else "")
        headers = sign_headers(
            system_id=self.caller.system_id,
            secret=self.caller.secret,
            timestamp=format_timestamp(dt.datetime.now(dt.UTC)),
            content_type=r.headers.get("Content-Type") or JSON_CT,
            params={"method": r.method or "", "path": path},
            hash_file=hashlib.sha256(body).hexdigest() if body else None,
        )
        for name, value in headers:
            if name == "Content-Type" and "Content-Type" in r.headers:
                continue  # the body's own type, signed above as it is
            # requests keeps header values as str; non-ASCII signed values go out as UTF-8.
            r.headers[name] = value.encode("utf-8") if not value.isascii() else value
        return r


@pytest.fixture(scope="module")
def hub_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileHub]:
    with real_hub(Path(tmp_path_factory.mktemp("schemathesis"))) as site:
        # Something real to find: a package from A to B, dispatched to B's inbox.
        package = make_edoc(sender=site.a.agency, to=[site.b.agency])
        site.hub.services.push(site.a.system_id, package)
        site.dispatch_all()
        yield site


@pytest.fixture(scope="module")
def api_schema(hub_site: HostileHub) -> OpenApiSchema:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", hub_site.hub.app())
    schema.auth.set_from_requests(VxpRestAuth(hub_site.a))
    return schema


def signature_accepted(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """Every generated request is signed correctly: a 401 here would hide what the request
    was generated to probe (and would be a bug of the signing rule, as the percent-escaped
    paths were)."""
    if response.status_code == 401:
        raise AssertionError(f"signed request refused: {response.text[:300]}")
    return None


def _run(operation: APIOperation, mode: GenerationMode, seen: Counter[str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    def check(case: Case) -> None:
        seen[f"{mode.value} {operation.label}"] += 1
        case.call_and_validate(
            excluded_checks=EXCLUDED.get(operation.label, []),
            additional_checks=[signature_accepted],
        )

    check()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_rest_operations(api_schema: OpenApiSchema, mode: GenerationMode) -> None:
    """Every operation, ``MAX_EXAMPLES`` generated requests each: no check fails."""
    seen: Counter[str] = Counter()
    failures: dict[str, str] = {}
    unsatisfiable: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 11  # every route of rest.build_router
    for operation in operations:
        try:
            _run(operation, mode, seen)
        except Unsatisfiable:
            # Negative mode only: nothing in this operation can be generated invalid (its
            # parameters are free-form path strings). Reported, not counted as checked.
            unsatisfiable.append(operation.label)
        except (Exception, FailureGroup) as exc:  # collect every operation's findings
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]
    print(f"schemathesis {mode.value}: {sum(seen.values())} requests", dict(seen))
    print(f"schemathesis {mode.value}: no invalid input to generate for", unsatisfiable)
    if mode is GenerationMode.POSITIVE:
        assert not unsatisfiable
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())


@pytest.mark.slow
def test_rest_stateful(api_schema: OpenApiSchema) -> None:
    """Sequences over the OpenAPI links (push → sent/timeline, register → delete)."""
    calls: Counter[str] = Counter()
    base = api_schema.as_state_machine()

    class Machine(base):  # type: ignore[valid-type,misc]
        def validate_response(
            self,
            response: Response,
            case: Case,
            additional_checks: list[CheckFunction] | None = None,
            **kwargs: object,
        ) -> None:
            calls[case.operation.label] += 1
            case.validate_response(
                response,
                excluded_checks=EXCLUDED.get(case.operation.label, []),
                additional_checks=[signature_accepted, *(additional_checks or [])],
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

    Machine.run(settings=settings(max_examples=30, stateful_step_count=6, deadline=None))
    print("schemathesis stateful:", sum(calls.values()), "calls", dict(calls))
    assert len(calls) >= 5  # the run reached most operations, not one
