"""Publish a new queue's first token after commit; a broker outage leaves it for the sweeper."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from billing.adapters.broker import Publisher, Token, queue_for_type
from billing.db.engine import UnitOfWork
from billing.domain.states import TemplateType
from billing.errors import BillingError
from billing.services.ingest import store

logger = logging.getLogger(__name__)


def publish_created(
    tenant: uuid.UUID,
    queue_id: uuid.UUID,
    ttype: TemplateType,
    *,
    uow: UnitOfWork,
    publisher: Publisher | None,
    now: datetime,
) -> None:
    """Publish the first token; on any failure the queue stays unpublished and the sweeper retries.

    ``published_at`` is recorded and committed *before* the token goes out: the sender that the token
    wakes (at once, in process under ``billing dev``) must not find the queue row still locked by that
    update, or it would skip the queue and wait for the next token (up to the sweeper's minute). A
    token the broker refuses clears it again."""
    if publisher is None:
        logger.warning("no publisher; queue left for the sweeper", extra={"action": "ingest.unpublished"})
        return
    try:
        store.mark_published(tenant, queue_id, now=now, session=uow.session)
        uow.commit()
    except SQLAlchemyError:
        uow.rollback()
        # Publish anyway: a second token from the sweeper later is harmless.
        logger.warning("published_at not recorded", extra={"action": "ingest.mark_failed", "queue_id": str(queue_id)})
    token = Token(kind="queue", queue_id=str(queue_id), tenant_id=str(tenant), reason="created")
    try:
        publisher.publish(queue_for_type(ttype), token, priority=ttype.priority)
    except BillingError as exc:
        logger.warning(
            "token not published; the sweeper will publish it: %s",
            type(exc).__name__,
            extra={"action": "ingest.unpublished", "queue_id": str(queue_id)},
        )
        try:
            store.mark_unpublished(tenant, queue_id, now=now, session=uow.session)
            uow.commit()
        except SQLAlchemyError:
            uow.rollback()  # marked published with no token: the sweeper's wake step still sends it
