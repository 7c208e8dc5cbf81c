"""The wheel carries the data the hub finds through ``hub.resources.data_path``: the profile
XSD, the SOAP peers' WSDL, the default settings and the sample registry, plus the Alembic
migrations."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
@pytest.mark.slow
def test_wheel_ships_schemas_config_and_migrations(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("lienthong-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "schemas/edxml/edxml-profile.xsd",
        "schemas/soap/edoc-hub.wsdl",
        "config/settings.yaml",
        "config/registry/sample.json",
        "hub/py.typed",
        "adapters/store/migrations/env.py",
        "adapters/store/migrations/script.py.mako",
    ):
        assert needed in names, f"{needed} missing from {wheel.name}"
    assert any(n.startswith("adapters/store/migrations/versions/0001") for n in names)
    assert any(n.startswith("adapters/store/migrations/versions/0002") for n in names)
    assert not any(n.startswith("tests/") for n in names)
