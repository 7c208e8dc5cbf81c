"""A real hub (SQLite + the embedded broker, in a temporary data dir) for the hostile-input tests,
and the signing helpers that speak to it as an agency system would.

Nothing here imitates the hub: :func:`real_hub` is :func:`hub.entrypoints.bootstrap.build_hub`
on its defaults (but a 2 MiB package cap), with two systems registered through the service (as
``lienthong systems add`` does). Requests are signed with the project's own SDK-exact signer
(:func:`hub.vxp.wire.sign_headers`), so a refusal seen in a test is the hub's verdict on the
hostile part of the request, not on a sloppy signature.

(Imported by name from the test modules, like ``http_fakes``: keep the module name unique.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hub.entrypoints.bootstrap import Hub, build_hub
from hub.settings import load_settings
from hub.vxp.wire import JSON_CT, OCTET_CT, format_timestamp, lossy_hash_file, sign_headers

#: The two agency systems and the commune agencies they host (in the sample registry).
SYSTEM_A, AGENCY_A = "qlvb.nghiloc", "000.00.65.H41"
SYSTEM_B, AGENCY_B = "qlvb.hungnguyen", "000.00.61.H41"
ORGAN_ID = "000.00.00.H41"
#: The hub's package cap in these tests: small, so over-cap bodies stay cheap to send.
PACKAGE_CAP = 2 * 1024 * 1024


def wire(headers: list[tuple[str, str]]) -> list[tuple[str, bytes]]:
    """Header values as the bytes on the wire (UTF-8: signed values may be non-ASCII)."""
    return [(name, value.encode("utf-8")) for name, value in headers]


@dataclass(frozen=True)
class Caller:
    """One registered agency system: id, secret and the agency it hosts."""

    system_id: str
    secret: str
    agency: str

    def vxp_headers(
        self,
        params: Mapping[str, str] | None = None,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        at: dt.datetime | None = None,
    ) -> list[tuple[str, str]]:
        """The SDK's headers for one façade call; a ``body`` is covered by a lossy hash-file."""
        return sign_headers(
            system_id=self.system_id,
            secret=self.secret,
            timestamp=format_timestamp(at or dt.datetime.now(dt.UTC)),
            content_type=content_type or (OCTET_CT if body is not None else JSON_CT),
            params=dict(params or {}),
            hash_file=lossy_hash_file(body) if body is not None else None,
        )

    def rest_headers(
        self, method: str, path: str, body: bytes = b"", *, at: dt.datetime | None = None
    ) -> list[tuple[str, bytes]]:
        """Headers of one ``/api/v1`` call: signed method, path (with query) and body digest."""
        return wire(
            sign_headers(
                system_id=self.system_id,
                secret=self.secret,
                timestamp=format_timestamp(at or dt.datetime.now(dt.UTC)),
                content_type=JSON_CT,
                params={"method": method, "path": path},
                hash_file=hashlib.sha256(body).hexdigest() if body else None,
            )
        )

    def send_edoc_headers(self, package: bytes, to: str) -> list[tuple[str, str]]:
        """Headers of a ``sendEdoc`` of ``package`` (with the SDK's trailing CR LF unsigned)."""
        return self.vxp_headers(
            {"from": self.agency, "to": to, "servicetype": "eDoc", "messagetype": "edoc"},
            body=package,
        )


@dataclass
class HostileHub:
    """A running hub's parts the tests need: the hub, its app and the two callers."""

    hub: Hub
    a: Caller
    b: Caller
    data_dir: Path

    def dispatch_all(self) -> None:
        """Move every queued delivery on, as the dispatch worker would (synchronously)."""
        with self.hub.uow() as uow:
            queued = [d.id for d in uow.deliveries.in_state("queued", limit=10_000)]
        self.hub.dispatch.dispatch(queued)


@contextmanager
def real_hub(data_dir: Path, **env: str) -> Iterator[HostileHub]:
    """A hub on SQLite in ``data_dir`` with :data:`SYSTEM_A` and :data:`SYSTEM_B` registered."""
    settings = load_settings(
        env={
            "LIENTHONG_DATA_DIR": str(data_dir),
            "LIENTHONG_ORGAN_ID": ORGAN_ID,
            "LIENTHONG_MAX_PACKAGE_BYTES": str(PACKAGE_CAP),
            **env,
        }
    )
    hub = build_hub(settings)
    try:
        a = Caller(SYSTEM_A, hub.services.systems.add(SYSTEM_A, [AGENCY_A]), AGENCY_A)
        b = Caller(SYSTEM_B, hub.services.systems.add(SYSTEM_B, [AGENCY_B]), AGENCY_B)
        yield HostileHub(hub, a, b, data_dir)
    finally:
        hub.close()


def assert_clean_refusal(
    response: httpx.Response, status: int | tuple[int, ...], *, api: str
) -> dict[str, Any]:
    """``response`` is a refusal with ``status``, as JSON in the API's error shape (never HTML,
    never a 5xx); returns the error object (REST) or the whole envelope (VXP)."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    doc = response.json()
    if api == "rest":
        err = doc["error"]
        assert isinstance(err["code"], str), doc
        assert err["code"], doc
        assert isinstance(err["message"], str), doc
        assert err["message"], doc
        return dict(err)
    assert doc["status"] == "FAIL", doc
    assert doc["ErrorCode"] == str(response.status_code), doc
    assert isinstance(doc["ErrorDesc"], str), doc
    assert doc["ErrorDesc"], doc
    return dict(doc)


def compact(obj: Any) -> bytes:
    """``obj`` as compact JSON bytes (what the REST tests sign and send)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
