"""``deploy/``: what an operator installs from, checked by what runs here.

* The systemd units pass ``systemd-analyze verify`` with no warning (their ``ExecStart`` pointed
  at this checkout's ``lienthong``, since ``/opt/lienthong`` does not exist on a test machine),
  run as a dedicated user, restart on failure, and carry the hardening the README promises.
* The compose file parses, names every service of the layout with a health check, and its hub
  services run commands that exist in the CLI (the same ones the e2e suite starts).
* The Containerfile runs as a non-root user, has a health check, and its entry commands are
  real CLI commands.

No image is built here (no registry is reachable): those checks are the offline part.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
LIENTHONG = Path(sys.executable).parent / "lienthong"


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_there_are_units_for_the_api_and_the_workers() -> None:
    assert {u.name for u in UNITS} == {"lienthong-api.service", "lienthong-worker@.service"}


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_each_unit_passes_systemd_analyze_verify(unit: Path, tmp_path: Path) -> None:
    exe = shutil.which("systemd-analyze")
    assert exe is not None, "systemd-analyze is missing (Debian package systemd)"
    assert LIENTHONG.exists()
    text = unit.read_text().replace("/opt/lienthong/.venv/bin/lienthong", str(LIENTHONG))
    copy = tmp_path / unit.name
    copy.write_text(text)
    done = subprocess.run(
        [exe, "verify", "--man=no", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr  # no ignored key, no unknown setting


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_each_unit_runs_hardened_as_a_dedicated_user(unit: Path) -> None:
    service = _unit(unit)["Service"]
    assert service["User"] == "lienthong"
    assert service["Restart"] == "always"
    assert service["EnvironmentFile"] == "/etc/lienthong/lienthong.env"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert service[key] == value, key
    command = service["ExecStart"].split()
    assert command[0] == "/opt/lienthong/.venv/bin/lienthong"
    _assert_cli_accepts(command[1:])


def _assert_cli_accepts(args: list[str]) -> None:
    """The CLI parses ``args`` (``--help`` appended: parsed, nothing started)."""
    done = subprocess.run(
        [str(LIENTHONG), *args, "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"lienthong {' '.join(args)}: {done.stderr}"


def test_the_compose_file_names_every_service_with_a_health_check() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "mq1", "mq2", "mq3", "api", "worker"}
    for name, service in services.items():
        assert "healthcheck" in service, name
        assert service["healthcheck"]["test"][0] == "CMD", name
    broker = services["api"]["environment"]["LIENTHONG_BROKER_URL"]
    assert broker.count("amqp://") == 3  # every node of the cluster
    for name in ("api", "worker"):
        _assert_cli_accepts(services[name]["command"])
    _assert_cli_accepts(services["worker"]["healthcheck"]["test"][1:][1:])
    conf = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text()
    assert "rabbit@mq3" in conf


def test_the_container_image_runs_as_a_non_root_user_with_a_health_check() -> None:
    lines = [
        line.strip()
        for line in (DEPLOY / "Containerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users == ["lienthong"]
    assert any(line.startswith("HEALTHCHECK ") for line in lines)
    entry = next(line for line in lines if line.startswith("ENTRYPOINT "))
    cmd = [line for line in lines if line.startswith("CMD ")][-1]  # not HEALTHCHECK's
    assert entry == 'ENTRYPOINT ["lienthong"]'
    _assert_cli_accepts(yaml.safe_load(cmd.removeprefix("CMD ")))
