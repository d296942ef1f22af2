"""The inbound gateway webhook: authenticate the instance, apply one event in one transaction.

Authentication is a per-instance secret the gateway sends in ``X-Billing-Webhook-Secret`` (configured
with ``billing instance add/update --webhook-secret``; only its sha256 is stored). The envelope's
``apikey`` is the instance's gateway token, not a secret of ours, and is never relied upon.

Side effects outside the database (the recovery token on ``open``, the opt-out confirmation text) run
after the commit, and their failure never fails the webhook: the gateway would only retry an event that
is already applied.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from billing import bootstrap
from billing.adapters.broker import Publisher, Token, queue_names
from billing.adapters.evolution_webhook import parse_webhook
from billing.bootstrap import GatewayFactory
from billing.clock import SYSTEM_CLOCK, Clock
from billing.config import get_settings
from billing.contract.gateway_events import ConnectionChange, Ignored, InboundMessage, ParsedWebhook, Receipt
from billing.crypto import hash_webhook_secret
from billing.db import claims
from billing.db.engine import UnitOfWork, unit_of_work
from billing.db.models import Message, WhatsAppInstance
from billing.domain.gateway import HealthState, OutcomeKind
from billing.errors import AuthenticationError, BillingError
from billing.logs import mask_phone
from billing.services.inbound.messages import InboundOutcome, receive_message
from billing.services.inbound.receipts import record_receipt

logger = logging.getLogger(__name__)

Status = Literal["processed", "duplicate", "ignored"]


@dataclass(frozen=True)
class WebhookResult:
    status: Status
    event: str
    detail: str | None = None

    def as_dict(self) -> dict[str, str]:
        body = {"status": self.status, "event": self.event}
        if self.detail:
            body["detail"] = self.detail
        return body


def _instance_id(ref: str) -> uuid.UUID:
    try:
        return uuid.UUID(ref)
    except ValueError as exc:
        raise AuthenticationError("unknown instance or wrong webhook secret") from exc


def authenticate_instance(ref: str, secret: str | None, *, session: Session) -> WhatsAppInstance:
    """The instance whose secret was presented; one error for every failure, so nothing leaks."""
    if not secret:
        raise AuthenticationError("missing webhook secret")
    instance = session.get(WhatsAppInstance, _instance_id(ref))
    stored = instance.webhook_secret_hash if instance is not None else None
    presented = hash_webhook_secret(secret)
    if instance is None or stored is None or not hmac.compare_digest(presented, stored):
        raise AuthenticationError("unknown instance or wrong webhook secret")
    return instance


def _set_health(instance: WhatsAppInstance, state: str, *, session: Session, now: datetime) -> None:
    # The phone's connection says nothing about our API key: an auth_failed instance stays so until a
    # new key is set (otherwise every "open" would send into another 401).
    claims.mark_instance_health(session, instance_id=instance.id, state=state, now=now, keep_auth_failed=True)
    logger.info(
        "instance connection changed",
        extra={"action": "webhook.connection", "instance_id": str(instance.id), "state": state},
    )


def _apply(
    parsed: ParsedWebhook, instance: WhatsAppInstance, *, session: Session, now: datetime
) -> tuple[Status, str | None, InboundOutcome | None]:
    payload = parsed.payload
    if isinstance(payload, Receipt):
        outcome = record_receipt(instance.tenant_id, payload, session=session, now=now)
        return ("duplicate" if outcome.duplicate else "processed"), None, None
    if isinstance(payload, InboundMessage):
        inbound = receive_message(instance, payload, session=session, now=now)
        if inbound.ignored:
            return "ignored", inbound.ignored, None
        return ("duplicate" if inbound.duplicate else "processed"), None, inbound
    if isinstance(payload, ConnectionChange):
        state = HealthState.OPEN if payload.state == "open" else HealthState.CLOSE
        _set_health(instance, state.value, session=session, now=now)
        return "processed", None, None
    assert isinstance(payload, Ignored)
    return "ignored", payload.reason, None


def handle_webhook(
    *,
    instance_ref: str,
    secret: str | None,
    body: bytes | Callable[[], bytes],
    clock: Clock = SYSTEM_CLOCK,
    uow_factory: Callable[[], AbstractContextManager[UnitOfWork]] = unit_of_work,
    publisher: Publisher | None = None,
    gateway: GatewayFactory | None = None,
) -> WebhookResult:
    """Authenticate, parse and apply one delivery. Raises AuthenticationError (401) before the body is
    read (``body`` may be a function that reads it), MalformedRequestError (400) for a body we cannot
    read; nothing is stored in either case.

    The secret is checked in a transaction of its own and the body read and parsed with no connection
    held, so a slow or oversized upload from a stranger costs no database connection."""
    if not secret:  # refused without a database round trip
        raise AuthenticationError("missing webhook secret")
    with uow_factory() as uow:
        instance = authenticate_instance(instance_ref, secret, session=uow.session)
        uow.session.expunge(instance)  # keeps its loaded columns when this transaction ends
    parsed = parse_webhook(body() if callable(body) else body)
    with uow_factory() as uow:
        status, detail, inbound = _apply(parsed, instance, session=uow.session, now=clock.now())
        uow.commit()
    if isinstance(parsed.payload, ConnectionChange) and parsed.payload.state == "open":
        _request_recovery(instance, publisher)
    if inbound is not None and inbound.confirmation and inbound.phone and inbound.conversation_id:
        _confirm_opt_out(instance, inbound, gateway=gateway, uow_factory=uow_factory, clock=clock)
    return WebhookResult(status, parsed.event, detail)


def _request_recovery(instance: WhatsAppInstance, publisher: Publisher | None) -> None:
    token = Token(
        kind="check_recovery",
        instance_id=str(instance.id),
        tenant_id=str(instance.tenant_id),
        reason="webhook.connection_open",
    )
    try:
        (publisher or bootstrap.publisher()).publish(queue_names().check_recovery, token)
    except BillingError as exc:  # the sweeper checks recovery every minute anyway
        logger.warning(
            "recovery token not published: %s",
            exc,
            extra={"action": "webhook.recovery_unpublished", "instance_id": str(instance.id)},
        )


def _confirm_opt_out(
    instance: WhatsAppInstance,
    inbound: InboundOutcome,
    *,
    gateway: GatewayFactory | None,
    uow_factory: Callable[[], AbstractContextManager[UnitOfWork]],
    clock: Clock,
) -> None:
    assert inbound.phone is not None and inbound.confirmation is not None and inbound.conversation_id is not None
    try:
        client = (gateway or bootstrap.gateway_for)(instance, get_settings())
        # No typing delay: the customer just wrote to us and is waiting for the answer.
        outcome = client.send_text(inbound.phone, inbound.confirmation, retry=False, delay_ms=0)
    except BillingError as exc:
        logger.warning("opt-out confirmation not sent: %s", exc, extra={"action": "webhook.confirm_failed"})
        return
    message_id = outcome.message_id
    sent = outcome.kind is OutcomeKind.SENT
    logger.info(
        "opt-out confirmation %s",
        "sent" if sent else "failed",
        extra={
            "action": "webhook.confirm",
            "phone": mask_phone(inbound.phone),
            "outcome": outcome.kind.value,
        },
    )
    if not sent:
        return
    try:
        with uow_factory() as uow:  # chat history shows what we answered
            uow.session.add(
                Message(
                    tenant_id=instance.tenant_id,
                    conversation_id=inbound.conversation_id,
                    direction="out",
                    body=inbound.confirmation,
                    provider_message_id=message_id,
                    status="sent",
                    created_at=clock.now(),
                )
            )
            uow.commit()
    except (BillingError, SQLAlchemyError) as exc:  # the opt-out itself is committed; history is a nicety
        logger.warning(
            "opt-out confirmation not recorded: %s", type(exc).__name__, extra={"action": "webhook.confirm_unrecorded"}
        )
