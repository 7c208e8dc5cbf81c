"""The overview's inline refresh script, run by Node.js against a minimal page: it swaps the
live part in from the fragment URL, leaves it alone when the tab is hidden or the fetch fails,
and reloads when the answer was a redirect (an expired session's login page)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from adapters.http.console.overview import REFRESH_S, _refresh_script

NODE = shutil.which("node")
SOURCE = "/dashboard/overview/live?span=day&lang=vi"

HARNESS = """
const calls = {fetched: [], reloads: 0, interval: null};
const live = {innerHTML: 'old'}, stamp = {textContent: 'then'};
globalThis.document = {hidden: %(hidden)s, getElementById: id => id === 'live' ? live : stamp};
globalThis.location = {reload: () => { calls.reloads += 1; }};
globalThis.fetch = (url, opts) => {
  calls.fetched.push([url, opts.credentials]);
  return %(answer)s;
};
globalThis.setInterval = (fn, ms) => { calls.interval = ms; fn(); };
%(script)s
setTimeout(() => console.log(JSON.stringify({calls, live: live.innerHTML,
                                             stamped: stamp.textContent !== 'then'})), 20);
"""


def _run(answer: str, *, hidden: bool = False) -> dict[str, object]:
    if NODE is None:
        pytest.skip("node is not installed (scripts/services installs nodejs)")
    code = HARNESS % {
        "hidden": "true" if hidden else "false",
        "answer": answer,
        "script": _refresh_script(SOURCE, REFRESH_S),
    }
    out = subprocess.run([NODE, "-e", code], capture_output=True, text=True, timeout=30, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


OK = "Promise.resolve({ok: true, redirected: false, text: () => Promise.resolve('<p>new</p>')})"


def test_the_live_part_is_swapped_in_from_the_fragment() -> None:
    result = _run(OK)
    assert result["live"] == "<p>new</p>"
    assert result["stamped"] is True
    calls = result["calls"]
    assert isinstance(calls, dict)
    assert calls["fetched"] == [[SOURCE, "same-origin"]]
    assert calls["interval"] == REFRESH_S * 1000
    assert calls["reloads"] == 0


def test_a_hidden_tab_fetches_nothing() -> None:
    result = _run(OK, hidden=True)
    calls = result["calls"]
    assert isinstance(calls, dict)
    assert calls["fetched"] == []
    assert result["live"] == "old"


def test_a_failed_fetch_keeps_the_last_figures() -> None:
    result = _run("Promise.resolve({ok: false, redirected: false, text: () => 'x'})")
    assert result["live"] == "old"
    network = _run("Promise.reject(new TypeError('network'))")
    assert network["live"] == "old"


def test_an_expired_session_reloads_the_page() -> None:
    result = _run("Promise.resolve({ok: true, redirected: true, text: () => 'login'})")
    assert result["live"] == "old"
    calls = result["calls"]
    assert isinstance(calls, dict)
    assert calls["reloads"] == 1
