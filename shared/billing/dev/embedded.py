"""An embedded PostgreSQL (the ``pgserver`` package) for ``billing dev`` when DATABASE_URL is unset."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from billing.errors import ConfigurationError

logger = logging.getLogger(__name__)

DATABASE = "billing"


HANDLES_FILE = ".handle_pids.json"  # pgserver's list of processes holding the server


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def forget_dead_handles(data_dir: Path) -> list[int]:
    """Drop the processes that died holding the server (a SIGKILL, a crash) from pgserver's list.

    pgserver stops PostgreSQL when its last holder exits; a holder that died without saying so stayed
    on the list forever, and from then on no run ever stopped the server. Returns the pids dropped.
    """
    import json

    path = data_dir / HANDLES_FILE
    try:
        pids = [int(p) for p in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []
    dead = [pid for pid in pids if not _alive(pid)]
    if dead:
        path.write_text(json.dumps([pid for pid in pids if pid not in dead]))
        logger.info(
            "forgot dead holders of the embedded PostgreSQL", extra={"action": "dev.stale_handles", "pids": dead}
        )
    return dead


def start_embedded_postgres(data_dir: Path) -> tuple[str, Any]:
    """Start (or reuse) a server whose data lives in ``data_dir``; returns ``(url, server)``.

    The server stops when this process exits; the data stays for the next run.
    """
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - installed by `make dev`
        raise ConfigurationError("pgserver is not installed: run `make dev` or pip install '.[embedded]'") from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    forget_dead_handles(data_dir)
    logger.info("starting embedded PostgreSQL", extra={"action": "dev.postgres", "data_dir": str(data_dir)})
    server = pgserver.get_server(  # type: ignore[attr-defined]
        str(data_dir), cleanup_mode="stop"
    )
    exists = server.psql("SELECT 1 FROM pg_database WHERE datname = 'billing';")
    if "(1 row)" not in exists:
        server.psql("CREATE DATABASE billing;")
    socket_dir = str(data_dir)
    return f"postgresql://postgres@/{DATABASE}?host={socket_dir}", server
