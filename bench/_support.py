"""What the benchmarks share: a throwaway migrated database, free local ports and servers started for a run.

Not a benchmark itself (``make bench`` runs only the files without a leading underscore).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def start_simulator() -> tuple[Any, str]:
    """The gateway simulator in its own process (so it does not share the benchmark's interpreter
    lock); its process and base URL."""
    from billing.sim.server import serve

    return serve_in_process(serve, what="simulator")


def serve_in_process(serve: Callable[..., None], *, what: str) -> tuple[Any, str]:
    """``serve(port=...)``, an HTTP server that runs until killed, in its own process; its process and
    base URL once ``GET /`` answers (anything)."""
    import multiprocessing
    import time

    import httpx

    port = free_port()
    process = multiprocessing.Process(target=serve, kwargs={"port": port}, daemon=True)
    process.start()
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(base_url + "/", timeout=0.5)
            return process, base_url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.terminate()
    raise RuntimeError(f"{what} did not start")


def started(server: Any, port: int, *, what: str, seconds: float = 20.0) -> Any:
    """``server`` (a Popen) once its ``/healthz`` on ``port`` answers 200; terminated and an error if not."""
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError(f"{what} did not start")


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


def claim_limit_rate(url: str, *, seconds: float = 2.0) -> float:
    """This machine's bare one-row claim-and-commit rate against ``url``'s server: a psycopg2 loop that
    claims one row with ``FOR UPDATE SKIP LOCKED`` and commits, the floor of any sender's per-message cost.
    Benchmarks report their own rate as a ratio to it, since machines differ by more than 2x."""
    import time

    import psycopg2

    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE claim_probe (id serial PRIMARY KEY, claimed boolean NOT NULL DEFAULT false)")
            cur.execute("INSERT INTO claim_probe (claimed) SELECT false FROM generate_series(1, 200000)")
        conn.commit()
        claimed = 0
        started = time.perf_counter()
        with conn.cursor() as cur:
            while time.perf_counter() - started < seconds:
                cur.execute(
                    "UPDATE claim_probe SET claimed = true WHERE id = (SELECT id FROM claim_probe WHERE NOT claimed"
                    " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id"
                )
                conn.commit()
                claimed += 1
        return claimed / (time.perf_counter() - started)
    finally:
        conn.close()


class HttpConnection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams.

    The load generator shares the machine's cores with the function and PostgreSQL, so it should cost
    as little as possible: aiohttp's client spent about 0.19 ms of CPU per request here, this one a
    fraction of that. It speaks only what the bench needs (GET, Content-Length bodies) and fails
    loudly on anything else.
    """

    def __init__(self, host: str, port: int, headers: str) -> None:
        self.host, self.port, self.headers = host, port, headers
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\n{self.headers}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if "content-length" not in fields:
            raise RuntimeError(f"the bench client needs Content-Length; got {fields}")
        body = await self.reader.readexactly(int(fields["content-length"]))
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
