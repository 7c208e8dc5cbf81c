"""Where the shipped data lives: `schemas/` and `config/`.

Both folders ship inside the wheel as the top-level data packages `schemas` and `config`; in a
checkout they sit beside `hub/`. `data_path` finds them either way, so nothing else needs to
know how the project was installed.
"""

from __future__ import annotations

import importlib.resources
from functools import cache
from pathlib import Path

_DATA_ROOTS = ("schemas", "config")


@cache
def _root(name: str) -> Path:
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    installed = importlib.resources.files(name)
    return Path(str(installed))


def data_path(root: str, *parts: str) -> Path:
    """Return the path of a shipped data file, e.g. ``data_path("schemas", "edxml", "x.xsd")``.

    Raises ``FileNotFoundError`` naming the path when the file is not there.
    """
    if root not in _DATA_ROOTS:
        raise ValueError(f"unknown data root {root!r}; expected one of {_DATA_ROOTS}")
    path = _root(root).joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"shipped data file missing: {root}/{'/'.join(parts)}")
    return path
