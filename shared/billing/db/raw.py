"""One hot-path statement on the session's pooled connection, run on its DBAPI cursor.

SQLAlchemy's ``Connection.execute`` builds an execution context, a result and its column metadata for
every statement: on the status route (two one-row statements a request) that was 15 % of the
function's time, three times what psycopg2 itself spent (py-spy, ``bench/status.py``, 2026-12-01).
``fetch_one`` runs the statement on the same connection, inside the same session, and fails the same
way: a psycopg2 error becomes SQLAlchemy's (``OperationalError`` and the rest, parameters hidden), and
a lost connection is invalidated with every connection the pool opened before it, so the pool never
hands out one of them again. Listeners of the engine's ``before_cursor_execute`` event (the tests'
statement counts) see the statement as they would any other.

Statements are written for psycopg2 (``%(name)s`` parameters, ``%%`` for a literal percent).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg2
from psycopg2.extras import NamedTupleCursor
from sqlalchemy import exc
from sqlmodel import Session

from billing.db.engine import connection_of


def fetch_one(session: Session, sql: str, params: Mapping[str, Any]) -> Any | None:
    """The first row of ``sql`` (a named tuple: ``row.column``), or None when it returns no row."""
    connection = connection_of(session)
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None  # a checked-out, valid connection
    cursor = None
    try:
        cursor = dbapi.cursor(cursor_factory=NamedTupleCursor)
        for listener in connection.dispatch.before_cursor_execute:  # what watches the engine sees it too
            listener(connection, cursor, sql, params, None, False)
        cursor.execute(sql, params)
        return cursor.fetchone()
    except psycopg2.Error as error:
        lost = connection.dialect.is_disconnect(error, dbapi, cursor)
        if lost and not connection.invalidated:
            # As SQLAlchemy does on a disconnect: every connection the pool opened before now is stale
            # (a restarted or failed-over server dropped them all), not only this one.
            connection.engine.pool._invalidate(connection.connection, error)
            connection.invalidate(error)
        raise exc.DBAPIError.instance(
            sql, None, error, psycopg2.Error, hide_parameters=True, connection_invalidated=lost
        ) from error
    finally:
        if cursor is not None:
            cursor.close()
