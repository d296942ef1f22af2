"""Ingest: one ERP batch -> one campaign, one queue and its rendered contacts, in one transaction.

Statements per request are constant (idempotency lookup, template, instance with its backlog,
suppressions, campaign+queue, contacts, and after commit the ``published_at`` update), whatever the
batch size. The work token is published after commit; a broker that is down leaves the queue
unpublished for the sweeper instead of failing the request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from billing.adapters.broker import Publisher
from billing.clock import iso_utc
from billing.contract.queues import Actor
from billing.contract.send import SEND_RESULT_FIELDS, SendCommand, SendEnvelope, SendResult
from billing.db.engine import UnitOfWork
from billing.domain.pacing import estimate_completion
from billing.domain.states import QueueStatus, TemplateType
from billing.errors import (
    BusinessHoursError,
    ConflictError,
    InvalidValueError,
    PayloadTooLargeError,
    ValidationFailedError,
)
from billing.logs import mask_phone
from billing.services.ingest import store
from billing.services.ingest.publish import publish_created
from billing.services.ingest.render import render_candidates
from billing.services.ingest.validation import Rejection, drop_suppressed, schema_checker, validate_contacts
from billing.services.tenants import TenantRuntime, load_tenant_runtime

logger = logging.getLogger(__name__)

MAX_SCHEDULE_AHEAD = timedelta(days=366)
STATUS_URL = "/api/v1/billing/queue/{queue_id}/status"


def request_hash(body: dict[str, Any], template_type: TemplateType) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{template_type.value}\n{canonical}".encode()).hexdigest()


def _replay(stored: store.StoredCampaign, digest: str, key: str | None) -> SendResult:
    if stored.request_hash != digest or stored.response is None:
        if key is not None and stored.idempotency_key == key:
            raise ConflictError("this Idempotency-Key was already used with a different request body")
        raise ConflictError(f"external_id {stored.external_id!r} was already used with a different request body")
    return SendResult(created=False, body=_in_contract_order(stored.response))


def _in_contract_order(stored: dict[str, Any]) -> dict[str, Any]:
    # JSONB does not keep key order; a replay must read exactly like the first answer.
    body = {name: stored.get(name) for name in SEND_RESULT_FIELDS}
    body["rejected"] = [{k: item.get(k) for k in ("index", "phone", "errors")} for item in body["rejected"] or []]
    return body


def _kept_answer(body: dict[str, Any]) -> dict[str, Any]:
    """The answer as stored for replays: a rejected contact's phone, as the ERP typed it, is masked
    (LGPD minimisation: we never keep a number we will not message). A replay shows it masked."""
    return {**body, "rejected": [{**item, "phone": mask_phone(item["phone"])} for item in body["rejected"]]}


def _local(value: datetime | None, runtime: TenantRuntime) -> datetime | None:
    # A time without offset is read in the tenant's zone, as a person there would mean it.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=runtime.tz)


def _check_window(scheduled: datetime | None, valid_until: datetime | None, now: datetime) -> None:
    errors: list[dict[str, object]] = []
    if scheduled is not None and scheduled > now + MAX_SCHEDULE_AHEAD:
        errors.append({"loc": ["scheduled_for"], "msg": f"must be at most {MAX_SCHEDULE_AHEAD.days} days ahead"})
    if valid_until is not None:
        if valid_until <= now:
            errors.append({"loc": ["valid_until"], "msg": "must be in the future"})
        elif scheduled is not None and valid_until <= scheduled:
            errors.append({"loc": ["valid_until"], "msg": "must be after scheduled_for"})
    if errors:
        raise ValidationFailedError("the sending window is not usable", errors)


def _eta(
    n: int, *, start: datetime, runtime: TenantRuntime, ttype: TemplateType, instance: store.InstanceChoice
) -> str | None:
    config = runtime.config
    hours = runtime.hours if ttype.respects_business_hours else None
    if ttype.respects_business_hours and hours is None:
        return None  # never open: no honest estimate
    try:
        eta = estimate_completion(
            n,
            start=start,
            per_minute=config.throttle_per_minute,
            jitter_s=config.jitter_s,
            hours=hours,
            daily_cap=config.daily_cap,
            backlog=instance.backlog,
            sent_today=instance.sent_today,
        )
    except (BusinessHoursError, InvalidValueError):
        return None
    return iso_utc(eta)


def parse_envelope(body: dict[str, Any]) -> SendEnvelope:
    """The top level of the body; unknown fields are refused by name."""
    try:
        return SendEnvelope.model_validate(body)
    except ValidationError as exc:
        errors: list[dict[str, object]] = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = list(err["loc"])
            if err["type"] == "extra_forbidden":
                errors.append({"loc": loc, "msg": f"unknown field {loc[-1]!r}; see the OpenAPI document"})
            else:
                errors.append({"loc": loc, "msg": err["msg"]})
        raise ValidationFailedError("the request body is not valid", errors) from exc


def _no_valid_contact(rejections: list[Rejection]) -> ValidationFailedError:
    errors = [e for r in sorted(rejections, key=lambda r: r.index) for e in r.loc_errors()]
    return ValidationFailedError("no contact is valid; nothing was queued", errors)


def _replace_previous(
    envelope: SendEnvelope,
    command: SendCommand,
    rendered: list[Any],
    *,
    queue_id: uuid.UUID,
    session: Session,
    now: datetime,
) -> int:
    """``cancel_previous_for_invoice``: the earlier pending reminders of this batch's invoices are
    cancelled in the same transaction as the new queue (in queues of the types the key may send)."""
    if not envelope.cancel_previous_for_invoice:
        return 0
    invoice_ids = sorted({item.contact.invoice_id for item in rendered if item.contact.invoice_id})
    if not invoice_ids:
        return 0
    from billing.services.invoices.cancel import cancel_reminders

    actor = Actor(tenant_id=command.tenant_id, api_key_id=command.api_key_id, template_types=command.template_types)
    queues, _ = cancel_reminders(
        session, invoice_ids, reason=f"replaced by queue {queue_id}", actor=actor, now=now, exclude_queue=queue_id
    )
    return sum(q["cancelled"] for q in queues)


def ingest(command: SendCommand, *, uow: UnitOfWork, publisher: Publisher | None, now: datetime) -> SendResult:
    """Validate, render and store a batch; publish its token after commit (see module docstring)."""
    session = uow.session
    envelope = parse_envelope(command.body)
    ttype = command.template_type
    tenant = command.tenant_id
    digest = request_hash(command.body, ttype)
    key = command.idempotency_key
    stored = store.find_campaign(tenant, key, envelope.external_id, session=session)
    if stored is not None:
        return _replay(stored, digest, key)

    runtime = load_tenant_runtime(tenant, session=session)
    limit = runtime.config.max_contacts_per_request
    if len(envelope.contacts) > limit:
        raise PayloadTooLargeError(
            f"{len(envelope.contacts)} contacts; this tenant accepts at most {limit} per request"
        )
    scheduled = _local(envelope.scheduled_for, runtime)
    valid_until = _local(envelope.valid_until, runtime)
    _check_window(scheduled, valid_until, now)
    template = store.find_template(tenant, ttype.value, envelope.template, session=session)
    today = runtime.today(now)
    instance = store.find_instance(tenant, envelope.instance, today=today, priority=ttype.priority, session=session)

    candidates, rejections = validate_contacts(
        envelope.contacts,
        template_type=ttype,
        today=today,
        region=runtime.config.default_region,
        schema_check=schema_checker(template.variables_schema),
    )
    blocked = store.suppressed_phones(tenant, [c.contact.phone for c in candidates], session=session)
    candidates, opted_out = drop_suppressed(candidates, blocked)
    rejections.extend(opted_out)
    queue_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    rendered, render_rejections = render_candidates(
        candidates, template=template, runtime=runtime, today=today, seed=digest
    )
    rejections.extend(render_rejections)
    if not rendered:
        raise _no_valid_contact(rejections)

    is_scheduled = scheduled is not None and scheduled > now
    status = QueueStatus.SCHEDULED if is_scheduled else QueueStatus.PENDING
    start = scheduled if is_scheduled and scheduled is not None else now
    rejections.sort(key=lambda r: r.index)
    body: dict[str, Any] = {
        "queue_id": str(queue_id),
        "status": status.value,
        "template_type": ttype.value,
        "accepted": len(rendered),
        "rejected": [{"index": r.index, "phone": r.phone, "errors": r.messages()} for r in rejections],
        "estimated_completion": _eta(len(rendered), start=start, runtime=runtime, ttype=ttype, instance=instance),
        "status_url": STATUS_URL.format(queue_id=queue_id),
    }
    created = store.create_campaign(
        {
            "campaign_id": campaign_id,
            "queue_id": queue_id,
            "tenant": tenant,
            "ext": envelope.external_id,
            "key": key,
            "hash": digest,
            "response": _kept_answer(body),
            "template_id": template.id,
            "instance_id": instance.id,
            "type": ttype.value,
            "priority": ttype.priority,
            "status": status.value,
            "total": len(rendered),
            "scheduled_for": scheduled,
            "valid_until": valid_until,
            "api_key_id": command.api_key_id,
        },
        session=session,
    )
    if not created:
        # A concurrent request with the same key committed first: answer as its replay.
        uow.rollback()
        stored = store.find_campaign(tenant, key, envelope.external_id, session=session)
        if stored is None:  # pragma: no cover - the conflicting row was deleted in between
            raise ConflictError("a concurrent request with the same idempotency key is still in progress")
        return _replay(stored, digest, key)
    # position = the contact's index in the request, so status failures point at the ERP's own row.
    rows = [
        store.contact_row(
            position=item.index, contact=item.contact, variation_id=item.variation_id, message=item.message
        )
        for item in rendered
    ]
    store.insert_contacts(rows, tenant_id=tenant, queue_id=queue_id, rendered_on=today, now=now, session=session)
    replaced = _replace_previous(envelope, command, rendered, queue_id=queue_id, session=session, now=now)
    uow.commit()
    logger.info(
        "queue created",
        extra={
            "action": "ingest.created",
            "tenant_id": str(tenant),
            "queue_id": str(queue_id),
            "template_type": ttype.value,
            "accepted": len(rendered),
            "rejected": len(rejections),
            "status": status.value,
            "replaced": replaced,
        },
    )
    if not is_scheduled:
        publish_created(tenant, queue_id, ttype, uow=uow, publisher=publisher, now=now)
    return SendResult(created=True, body=body)
