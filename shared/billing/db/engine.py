"""Lazily built engine and a rollback-by-default unit of work.

The engine is created on first use and reused across warm invocations; pools stay small because many
function replicas share one PostgreSQL (put PgBouncer in transaction mode in front for scale).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from billing.config import get_settings
from billing.errors import DatabaseUnavailableError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlmodel import Session

logger = logging.getLogger(__name__)

_engines: dict[bool, Engine] = {}
_engine_lock = threading.Lock()


def sqlalchemy_url(url: str) -> str:
    """Our URLs may omit the driver; SQLAlchemy wants ``postgresql+psycopg2``."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def get_engine(*, autocommit: bool = False) -> Engine:
    """The process's engine; ``autocommit=True`` gives a second pool whose connections never open a
    transaction (each statement, or each multi-statement string, commits on its own).

    Read-mostly routes use it to save the BEGIN and COMMIT/ROLLBACK round trips. It is a pool of its
    own rather than a per-checkout option because switching a pooled connection back costs a round
    trip (``SET default_transaction_isolation``) on every return; a process builds only the pools it uses.
    """
    engine = _engines.get(autocommit)
    if engine is not None:
        return engine
    with _engine_lock:
        engine = _engines.get(autocommit)
        if engine is None:
            from sqlalchemy import create_engine

            settings = get_settings()
            options = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
            engine = create_engine(
                sqlalchemy_url(settings.database_url),
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                pool_recycle=300,
                # A failed statement's error must not carry a debtor's phone, name or message into logs.
                hide_parameters=True,
                connect_args={
                    "connect_timeout": 3,
                    "application_name": "billing",
                    "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
                },
                **options,
            )
            _ping_idle_connections(engine)
            _engines[autocommit] = engine
    return engine


# A pooled connection that sat idle this long is pinged before use; a busy one is not, which saves a
# round trip per request under load (pool_pre_ping would ping every checkout).
PING_AFTER_IDLE_S = 5.0


def _ping_idle_connections(engine: Engine) -> None:
    import time

    from sqlalchemy import event
    from sqlalchemy.exc import DisconnectionError

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: object, record: object, *_: object) -> None:
        record.info["idle_since"] = time.monotonic()  # type: ignore[attr-defined]

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: object, record: object, *_: object) -> None:
        idle_since = record.info.get("idle_since")  # type: ignore[attr-defined]
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_connection.rollback()  # type: ignore[attr-defined]
        except Exception as exc:  # any driver error means the connection is gone: the pool retries
            raise DisconnectionError(str(exc)) from exc


def dispose_engine() -> None:
    """Close every pooled connection and forget the engine (tests, and after fork)."""
    with _engine_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


class UnitOfWork:
    """A session whose work is thrown away unless ``commit()`` is called."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()


@contextlib.contextmanager
def _unavailable_on_disconnect() -> Iterator[None]:
    """A lost or refused connection becomes ``DatabaseUnavailableError`` (503 with Retry-After)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    try:
        yield
    except DBAPIError as exc:
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            logger.warning(
                "database unavailable: %s", type(exc.orig).__name__, extra={"action": "db.unavailable"}
            )
            raise DatabaseUnavailableError("database unavailable") from exc
        raise


@contextlib.contextmanager
def unit_of_work() -> Iterator[UnitOfWork]:
    """Open a session; roll back on exit unless committed; translate connection failures."""
    from sqlmodel import Session

    session = Session(get_engine(), expire_on_commit=False)  # connects lazily, on first use
    try:
        with _unavailable_on_disconnect():
            yield UnitOfWork(session)
    finally:
        session.rollback()
        session.close()


@contextlib.contextmanager
def core_connection() -> Iterator[Connection]:
    """One Core connection from the pool, connection failures translated like ``unit_of_work``'s."""
    with _unavailable_on_disconnect(), get_engine().connect() as conn:
        yield conn


@contextlib.contextmanager
def autocommit_session() -> Iterator[Session]:
    """A session pinned to one connection of the autocommit pool for a whole request.

    Each statement commits on its own, which spares the BEGIN and COMMIT/ROLLBACK round trips of a
    transaction (the status route: the guard's statement, then the read). Connection failures are
    translated like ``unit_of_work``'s.
    """
    from sqlmodel import Session

    with (
        _unavailable_on_disconnect(),
        get_engine(autocommit=True).connect() as conn,
        Session(bind=conn, expire_on_commit=False, info={_AUTOCOMMIT_CONNECTION: conn}) as session,
    ):
        yield session


_AUTOCOMMIT_CONNECTION = "billing.autocommit_connection"


def connection_of(session: Session) -> Connection:
    """The connection ``session``'s statements run on. A session of ``autocommit_session`` hands out its
    own without beginning a session transaction (there is none to begin on an autocommit connection)."""
    conn: Connection | None = session.info.get(_AUTOCOMMIT_CONNECTION)
    return conn if conn is not None else session.connection()


def commit(session: Session) -> None:
    """Commit ``session``'s work. A session of ``autocommit_session`` has nothing left to commit (each
    statement committed as it ran), so the call is skipped: SQLAlchemy's bookkeeping for it was 3.5 % of
    the status route's time."""
    if _AUTOCOMMIT_CONNECTION not in session.info:
        session.commit()
