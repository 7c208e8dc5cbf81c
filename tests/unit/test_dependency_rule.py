"""DESIGN.md's dependency rule: the core (`hub/`, except its composition root
`hub/entrypoints/`) imports no database, broker, HTTP, SOAP or PDF library, and never
`adapters` or `signing`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "sqlalchemy",
    "alembic",
    "psycopg",
    "asyncpg",
    "aiosqlite",
    "sqlite3",
    "aio_pika",
    "aiormq",
    "pika",
    "httpx",
    "requests",
    "urllib3",
    "aiohttp",
    "fastapi",
    "starlette",
    "uvicorn",
    "zeep",
    "pyhanko",
    "pyhanko_certvalidator",
    "signxml",
    "pkcs11",
    "adapters",
    "signing",
}


def _core_modules() -> list[Path]:
    hub = ROOT / "hub"
    return sorted(p for p in hub.rglob("*.py") if "entrypoints" not in p.relative_to(hub).parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_has_modules_to_check() -> None:
    assert len(_core_modules()) >= 3


@pytest.mark.parametrize("path", _core_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_imports_no_infrastructure(path: Path) -> None:
    bad = _imports(path) & FORBIDDEN
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_rule_catches_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import sqlalchemy\nfrom aio_pika import connect\n", encoding="utf-8")
    assert _imports(sample) & FORBIDDEN == {"sqlalchemy", "aio_pika"}
