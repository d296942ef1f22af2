"""What the benchmarks share: a throwaway migrated database and free local ports.

Not a benchmark itself (``make bench`` runs only the files without a leading underscore).
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def admin(sql: str) -> None:
    """Run one statement on the admin database (CREATE/DROP DATABASE cannot run in a transaction)."""
    import psycopg2

    conn = psycopg2.connect(ADMIN_URL)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@contextmanager
def scratch_database(*, keep: bool = False) -> Iterator[str]:
    """A new database on ``ADMIN_URL``'s server, migrated to head; its URL. Dropped afterwards (even
    with clients still connected) unless ``keep``."""
    from billing.db.migrate import upgrade

    name = f"billing_bench_{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN_URL.rpartition('/')[0]}/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        if keep:
            sys.stderr.write(f"kept database {name}\n")
        else:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
