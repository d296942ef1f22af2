"""An embedded PostgreSQL (the ``pgserver`` package) for ``billing dev`` when DATABASE_URL is unset."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from billing.errors import ConfigurationError

logger = logging.getLogger(__name__)

DATABASE = "billing"


def start_embedded_postgres(data_dir: Path) -> tuple[str, Any]:
    """Start (or reuse) a server whose data lives in ``data_dir``; returns ``(url, server)``.

    The server stops when this process exits; the data stays for the next run.
    """
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - installed by `make dev`
        raise ConfigurationError("pgserver is not installed: run `make dev` or pip install '.[embedded]'") from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    logger.info("starting embedded PostgreSQL", extra={"action": "dev.postgres", "data_dir": str(data_dir)})
    server = pgserver.get_server(  # type: ignore[attr-defined]
        str(data_dir), cleanup_mode="stop"
    )
    exists = server.psql("SELECT 1 FROM pg_database WHERE datname = 'billing';")
    if "(1 row)" not in exists:
        server.psql("CREATE DATABASE billing;")
    socket_dir = str(data_dir)
    return f"postgresql://postgres@/{DATABASE}?host={socket_dir}", server
