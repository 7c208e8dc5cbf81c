"""The conformance report: one JSON document and one self-contained HTML page.

Both say, per step and per protocol check, whether it passed, failed or timed out, why (in
Vietnamese and English), and the exact request that failed — method, path, every header as
received, the body's size, SHA-256 and first bytes, and the hub's reply. The request's own
HMAC (``hash-header``) is a digest, not a secret; no secret is ever recorded.

The HTML is escaped throughout (a vendor's header values are shown, never interpreted) and needs
no script or external resource, so it can be mailed to the vendor as it is.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path
from typing import Any

from hub.conformance.script import Script

_COLOURS = {"passed": "#1b7f3b", "failed": "#b3261e", "timed_out": "#a05a00"}
_LABELS = {
    "passed": "ĐẠT / passed",
    "failed": "KHÔNG ĐẠT / failed",
    "timed_out": "HẾT GIỜ / timed out",
    "pending": "chưa chạy / not run",
    "running": "đang chạy / running",
}


def report_dict(
    script: Script, *, started: dt.datetime, ended: dt.datetime, facts: dict[str, Any]
) -> dict[str, Any]:
    """The JSON report."""
    return {
        "passed": script.passed,
        "started_at": started.isoformat(),
        "ended_at": ended.isoformat(),
        "step_limit_s": script.limit.total_seconds(),
        "facts": facts,
        "steps": [s.to_dict() for s in script.steps],
        "checks": [c.to_dict() for c in script.checks],
    }


def _request_html(request: dict[str, Any] | None) -> str:
    if not request:
        return ""
    e = html.escape
    headers = "\n".join(f"{e(k)}: {e(v)}" for k, v in request["headers"])
    return (
        "<details><summary>"
        f"{e(request['method'])} {e(request['path'])} → HTTP {request['status']}"
        f" ({e(request['at'])})</summary>"
        f"<pre>{headers}</pre>"
        f"<p>body: {request['body_size']} bytes, SHA-256 {e(request['body_sha256'])}</p>"
        f"<pre>{e(request['body_excerpt'])}</pre>"
        f"<p>reply:</p><pre>{e(request['reply_excerpt'])}</pre></details>"
    )


def _row(item: dict[str, Any]) -> str:
    e = html.escape
    outcome = item["outcome"]
    colour = _COLOURS.get(outcome, "#555")
    reason = " / ".join(r for r in (item["reason_vi"], item["reason_en"]) if r)
    return (
        f"<tr><td><code>{e(item['id'])}</code></td>"
        f"<td>{e(item['title_vi'])}<br><small>{e(item['title_en'])}</small></td>"
        f'<td style="color:{colour};font-weight:bold">{e(_LABELS.get(outcome, outcome))}</td>'
        f"<td>{e(reason)}{_request_html(item.get('request'))}</td></tr>"
    )


def report_html(report: dict[str, Any]) -> str:
    """The HTML page of a :func:`report_dict` document."""
    e = html.escape
    verdict = "ĐẠT — passed" if report["passed"] else "KHÔNG ĐẠT — failed"
    facts = "".join(f"<li>{e(str(k))}: {e(str(v))}</li>" for k, v in report["facts"].items())
    head = "<tr><th>bước / step</th><th></th><th>kết quả / outcome</th><th>lý do / why</th></tr>"
    steps = "".join(_row(s) for s in report["steps"])
    checks = "".join(_row(c) for c in report["checks"])
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        "<title>lienthong conformance</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%}"
        "td,th{border:1px solid #ccc;padding:.4em;vertical-align:top;text-align:left}"
        "pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:.5em}"
        "</style></head><body>"
        f"<h1>Kiểm thử kết nối liên thông — {e(verdict)}</h1>"
        f"<p>{e(report['started_at'])} → {e(report['ended_at'])}; "
        f"giới hạn mỗi bước / step limit {report['step_limit_s']:g} s</p>"
        f"<ul>{facts}</ul>"
        f"<h2>Các bước / Steps</h2><table>{head}{steps}</table>"
        f"<h2>Thói quen giao thức / Protocol habits</h2><table>{head}{checks}</table>"
        "</body></html>"
    )


def write_reports(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write ``conformance.json`` and ``conformance.html`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "conformance.json"
    html_path = directory / "conformance.html"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    html_path.write_text(report_html(report), encoding="utf-8")
    return json_path, html_path
