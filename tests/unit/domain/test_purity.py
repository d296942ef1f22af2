"""domain/ is pure: no module in it may import anything that does I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import billing.domain
import pytest

DOMAIN = Path(billing.domain.__file__).parent
FORBIDDEN = {
    "socket",
    "ssl",
    "http",
    "httpx",
    "requests",
    "urllib.request",
    "urllib3",
    "aiohttp",
    "sqlalchemy",
    "sqlmodel",
    "psycopg",
    "psycopg2",
    "asyncpg",
    "pika",
    "aio_pika",
    "aiormq",
    "os",
    "sys",
    "subprocess",
    "shutil",
    "pathlib",
    "io",
    "tempfile",
    "asyncio",
    "threading",
    "multiprocessing",
    "logging",
    "time",
    "billing.db",
    "billing.adapters",
    "billing.services",
    "billing.http",
    "billing.config",
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def is_forbidden(module: str) -> bool:
    return any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN)


@pytest.mark.parametrize("path", sorted(DOMAIN.glob("*.py")), ids=lambda p: p.name)
def test_domain_modules_import_no_io_modules(path: Path) -> None:
    assert sorted(m for m in imported_modules(path) if is_forbidden(m)) == []


def test_the_check_itself_catches_io_imports() -> None:
    assert is_forbidden("urllib.request") and is_forbidden("os.path") and is_forbidden("http.client")
    assert not is_forbidden("urllib.parse") and not is_forbidden("osx")


def test_domain_modules_stay_small() -> None:
    for path in DOMAIN.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 300, path.name
