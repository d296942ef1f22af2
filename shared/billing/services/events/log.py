"""Read the event log (migration 0019) the way the API shows it, and keep it sequenced.

Events are written by triggers in the transaction of each change; ``sequence_pending`` gives committed
events their public ids in commit order (one sequencer at a time, any process may call it), and readers
resume after the last id they saw without ever missing one.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from billing.clock import iso_utc
from billing.db import events as store
from billing.domain.events import InvalidEventFilterError, like_patterns, parse_type_filter
from billing.errors import NotFoundError, PermissionDeniedError, ValidationFailedError

logger = logging.getLogger(__name__)

MAX_AFTER = 2**63 - 1
READ_BATCH = 500


@dataclass(frozen=True, slots=True)
class EventQuery:
    """What a stream or a replay follows: the tenant's events after ``after``, optionally one queue's,
    optionally some types only."""

    tenant_id: uuid.UUID
    after: int = 0
    queue_id: uuid.UUID | None = None
    types: tuple[str, ...] = ()

    def patterns(self) -> list[str] | None:
        return like_patterns(self.types)


def _invalid(field: str, detail: str) -> ValidationFailedError:
    return ValidationFailedError(detail, [{"loc": ["query", field], "msg": detail}])


def parse_after(after: str | None, last_event_id: str | None) -> int:
    """``Last-Event-ID`` (a reconnecting EventSource) wins over ``?after=``; both are event ids."""
    raw, field = (last_event_id, "Last-Event-ID") if last_event_id not in (None, "") else (after, "after")
    if raw is None or raw == "":
        return 0
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19) or int(raw) > MAX_AFTER:
        raise _invalid(field, f"{field} must be an event id (a whole number), as sent in an event's id")
    return int(raw)


def parse_query(
    *,
    tenant_id: uuid.UUID,
    queue_id: str | None,
    types: str | None,
    after: str | None,
    last_event_id: str | None = None,
) -> EventQuery:
    """The stream's query parameters as the client wrote them; every mistake is a precise 422."""
    parsed_queue: uuid.UUID | None = None
    if queue_id not in (None, ""):
        try:
            parsed_queue = uuid.UUID(str(queue_id))
        except ValueError:
            raise _invalid("queue_id", "queue_id must be a queue id (a UUID)") from None
    try:
        filters = parse_type_filter(types)
    except InvalidEventFilterError as exc:
        raise _invalid("types", str(exc)) from None
    return EventQuery(
        tenant_id=tenant_id, after=parse_after(after, last_event_id), queue_id=parsed_queue, types=filters
    )


_QUEUE_TYPE = sa.text("SELECT template_type FROM billing_queues WHERE id = :queue_id AND tenant_id = :tenant_id")


def authorize(query: EventQuery, *, conn: Connection, allowed_types: tuple[str, ...] | None) -> None:
    """Another tenant's queue is "not found"; a key limited to some template types follows only one
    queue of those types (events of the whole tenant span every type)."""
    if query.queue_id is None:
        if allowed_types is not None:
            raise PermissionDeniedError(
                "this API key is limited to some template types: follow one queue of those types (queue_id=...)"
            )
        return
    row = conn.execute(_QUEUE_TYPE, {"queue_id": query.queue_id, "tenant_id": query.tenant_id}).first()
    if row is None:
        raise NotFoundError("queue not found")
    if allowed_types is not None and row.template_type not in allowed_types:
        raise PermissionDeniedError(f"this API key may not act on {row.template_type!r} queues")


def event_json(event: store.StoredEvent) -> dict[str, Any]:
    """An event as the API, the stream and the webhooks show it."""
    return {"id": event.id, "type": event.type, "timestamp": iso_utc(event.occurred_at), "data": event.data}


def read(query: EventQuery, *, conn: Connection, limit: int = READ_BATCH) -> list[store.StoredEvent]:
    """The next events of ``query`` (after ``query.after``), in id order."""
    return store.read_after(
        conn,
        tenant_id=query.tenant_id,
        after=query.after,
        limit=limit,
        queue_id=query.queue_id,
        type_patterns=query.patterns(),
    )


def sequence_pending(engine: Engine, *, max_rounds: int = 20) -> int:
    """Number every committed event not yet numbered (a few short transactions); returns how many this
    call numbered. Another process sequencing at the same moment is fine: its numbers land when it
    commits, and this call stops."""
    total = 0
    for _ in range(max_rounds):
        with engine.begin() as conn:
            done = store.sequence(conn)
        if done < 0:
            break
        total += done
        if done < store.SEQUENCE_BATCH:
            break
    return total
