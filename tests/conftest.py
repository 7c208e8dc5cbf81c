"""Shared fixtures. Fixture packages are made by the project's own writer; the official samples
in ``../shared/edxml-samples`` are read too when that folder exists."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "edxml-samples"


@pytest.fixture(scope="session")
def shared_samples() -> Path | None:
    """The official SDK sample folder, or ``None`` where it is absent."""
    return SHARED_SAMPLES if SHARED_SAMPLES.is_dir() else None


pytest_plugins = ["tests.signing_fixtures", "tests.db_fixtures"]
