"""Test harness: a migrated template database cloned per test, unique broker queues, factories.

Integration tests use the real PostgreSQL and RabbitMQ the machine runs (see scripts/ensure-services.sh);
``TEST_DATABASE_ADMIN_URL`` and ``TEST_RABBITMQ_URL`` point elsewhere if needed.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from support.rabbit import RABBITMQ_URL, delete_topology

os.environ.setdefault("BILLING_ENV", "test")
os.environ.setdefault("BILLING_SECRET_KEY", "test-secret-key-0123456789abcdef")
os.environ.setdefault("BILLING_LOG_LEVEL", "INFO")

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TEMPLATE_DB = f"billing_tpl_{os.getpid()}"


def _db_url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def _admin_exec(*statements: str) -> None:
    import psycopg2

    conn = psycopg2.connect(ADMIN_URL)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for stmt in statements:
                cur.execute(stmt)
    finally:
        conn.close()


def _reset_caches() -> None:
    from billing.adapters.broker import reset_publisher
    from billing.bootstrap import reset_event_listeners
    from billing.config import reset_settings_cache
    from billing.db.engine import dispose_engine
    from billing.services.tenants import forget_tenant

    reset_event_listeners()
    dispose_engine()
    reset_settings_cache()
    reset_publisher()  # a cached publisher would keep the previous test's queue names
    forget_tenant()


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    """Create and migrate one database per test session; tests clone it."""
    from billing.db.migrate import upgrade

    _admin_exec(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)', f'CREATE DATABASE "{TEMPLATE_DB}"')
    upgrade(_db_url(TEMPLATE_DB))
    yield TEMPLATE_DB
    _maker.close()  # no clone in progress while the template goes
    _dropper.drop(TEMPLATE_DB)


class _Dropper:
    """Drops the tests' databases in a thread of its own, forty at a time. PostgreSQL 15 makes every DROP
    DATABASE wait for an immediate checkpoint: one drop per test forced a checkpoint of everything the
    other tests had written (seconds each on a busy run, and IO every test paid for); in a row, only the
    first of forty has much to flush. The names left at the end go to a process of their own."""

    BATCH = 40

    def __init__(self) -> None:
        self._names: queue.Queue[str] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def drop(self, name: str) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="test-db-dropper", daemon=True)
            self._thread.start()
        self._names.put(name)

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._names.qsize() < self.BATCH:
                self._stopping.wait(0.5)
                continue
            for _ in range(self.BATCH):
                name = self._names.get()
                if self._stopping.is_set():
                    self._names.put(name)  # left for close()
                    return
                try:
                    _admin_exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                except Exception as exc:  # a leftover database costs disk, never a result
                    sys.stderr.write(f"conftest: could not drop {name}: {exc}\n")

    def close(self) -> None:
        """Hand the drops not yet done to a process of their own, and do not wait for it: waiting took
        5-12 s at the end of a busy run."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join()  # at most the drop in progress
        self._thread = None
        left: list[str] = []
        while True:
            try:
                left.append(self._names.get_nowait())
            except queue.Empty:
                break
        if left:
            subprocess.Popen(
                [sys.executable, "-c", _DROP_SCRIPT, ADMIN_URL, *left],
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )


_DROP_SCRIPT = """
import sys, psycopg2
conn = psycopg2.connect(sys.argv[1])
conn.autocommit = True
with conn.cursor() as cur:
    for name in sys.argv[2:]:
        try:
            cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        except psycopg2.Error:
            pass  # a leftover database costs disk, never a result
"""


_dropper = _Dropper()


class _Maker:
    """Clones the template ahead of the tests, in a thread of its own: a CREATE DATABASE ... TEMPLATE
    takes 0.2-0.3 s here, which every database test used to wait for (three to four minutes of the
    suite). ``READY`` clones wait; a test takes one, and the thread makes the next while the test runs.
    The session drops the clones nobody took."""

    READY = 2

    def __init__(self) -> None:
        self._ready: queue.Queue[str | BaseException] = queue.Queue(maxsize=self.READY)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def take(self, template: str) -> str:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, args=(template,), name="test-db-maker", daemon=True)
            self._thread.start()
        item = self._ready.get(timeout=120)
        if isinstance(item, BaseException):
            raise item
        return item

    def _run(self, template: str) -> None:
        while not self._stop.is_set():
            name = f"billing_t_{uuid.uuid4().hex[:12]}"
            item: str | BaseException = name
            try:
                _admin_exec(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            except Exception as exc:  # handed to the test that asks next, so it fails saying why
                item = exc
            while not self._stop.is_set():
                try:
                    self._ready.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue
            else:
                if isinstance(item, str):
                    _dropper.drop(item)

    def close(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        while True:
            try:
                item = self._ready.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, str):
                _dropper.drop(item)


_maker = _Maker()


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases_before_leaving() -> Iterator[None]:
    yield
    _maker.close()
    _dropper.close()


@pytest.fixture
def database_url(template_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, migrated database for this test (cloned ahead by ``_Maker``), installed as DATABASE_URL."""
    name = _maker.take(template_database)
    url = _db_url(name)
    monkeypatch.setenv("DATABASE_URL", url)
    _reset_caches()
    yield url
    _reset_caches()
    _dropper.drop(name)


@pytest.fixture
def broker_prefix(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Queue names unique to this test (``t<hex>.overdue`` ...), deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("RABBITMQ_URL", RABBITMQ_URL)
    monkeypatch.setenv("BILLING_BROKER_QUEUE_PREFIX", prefix)
    _reset_caches()
    yield prefix
    delete_topology(prefix)
    _reset_caches()


@pytest.fixture
def db(database_url: str) -> Iterator[Any]:
    """A session on this test's database; the test commits what it wants to keep."""
    from billing.db.engine import unit_of_work

    with unit_of_work() as uow:
        yield uow.session
