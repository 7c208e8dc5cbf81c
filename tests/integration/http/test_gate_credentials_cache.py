"""The façade's credential cache: one store read per system and interval, never a wrong refusal.

``Gate`` reuses an accepted system's credentials for ``ApiSettings.credentials_ttl_s``; a secret
rotated elsewhere works at once (a refusal re-reads the store before answering), an unknown or
disabled system is never cached, and ``credentials_ttl_s=0`` asks the store on every request.
"""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient
from http_fakes import SECRET, SYSTEM, FakeHub, Signer

from hub.services.contracts import SystemCredentials


def count_lookups(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = hub.credentials

    def counting(system_id: str) -> SystemCredentials | None:
        seen.append(system_id)
        return real(system_id)

    monkeypatch.setattr(hub, "credentials", counting)
    return seen


def count(http: TestClient, sign: Signer, **kw: object) -> int:
    return http.post(
        "http://testserver/countReceiveEdoc", headers=sign(**kw), content=b"{}"
    ).status_code


def test_accepted_credentials_are_read_once_per_interval(
    http: TestClient, sign: Signer, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = count_lookups(hub, monkeypatch)
    assert [count(http, sign) for _ in range(5)] == [200] * 5
    assert seen == [SYSTEM]


def test_rotated_secret_works_at_once(
    http: TestClient, sign: Signer, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert count(http, sign) == 200  # cached with the old secret
    seen = count_lookups(hub, monkeypatch)
    old = hub.systems[SYSTEM]
    hub.systems[SYSTEM] = dataclasses.replace(old, secrets=("new-secret", SECRET))
    assert count(http, sign, secret="new-secret") == 200
    assert seen == [SYSTEM]  # the refusal with the cached secret asked the store again
    assert count(http, sign, secret="wrong-secret") == 401


def test_disabled_system_is_not_cached(
    http: TestClient, sign: Signer, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.systems[SYSTEM] = dataclasses.replace(hub.systems[SYSTEM], enabled=False)
    seen = count_lookups(hub, monkeypatch)
    assert [count(http, sign) for _ in range(3)] == [401] * 3
    assert seen == [SYSTEM] * 3
