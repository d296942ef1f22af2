"""Watching the SQL a piece of code sends, for the constant-query-count assertions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def recorded_statements(engine: Any) -> Iterator[list[str]]:
    """Every statement ``engine`` sends inside the block, in order (clear the list to start over)."""
    import sqlalchemy as sa

    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
