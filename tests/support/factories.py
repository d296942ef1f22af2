"""Factories for sender tests and benches: a tenant with an instance, and queues with rendered messages.

``make_world`` builds the tenant, its gateway instance and an API key through ``billing.services.admin``
(so the rows are exactly what the CLI makes); ``make_queue`` bulk-inserts a campaign, a queue and its
contacts with messages rendered by the tenant's default template, as ingest would.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

SECRET = os.environ.get("BILLING_SECRET_KEY", "test-secret-key-0123456789abcdef")


@dataclass(frozen=True)
class World:
    """A committed tenant with one WhatsApp instance and one API key: what every test starts from."""

    tenant_id: uuid.UUID
    tenant_name: str
    company: str
    instance_id: uuid.UUID
    instance_name: str
    gateway_token: str
    api_key: str
    timezone: str
    webhook_secret: str | None = None
    template_id: uuid.UUID | None = None  # the tenant's default notification template

    @property
    def key(self) -> str:
        return self.api_key

    @property
    def name(self) -> str:
        return self.tenant_name

    @property
    def secret(self) -> str:
        assert self.webhook_secret is not None, "make_world(..., webhook_secret=...) for webhook tests"
        return self.webhook_secret

    @property
    def path(self) -> str:
        """The instance's webhook route."""
        return f"/api/v1/billing/webhook/evolution/{self.instance_id}"

    def register(self, sim_client: Any, **options: Any) -> None:
        """Create this world's instance in a running simulator."""
        sim_client.add_instance(self.instance_name, self.gateway_token, **options)


def make_world(
    session: Any = None,
    *,
    gateway_url: str = "http://127.0.0.1:1",
    name: str = "acme",
    timezone: str = "America/Sao_Paulo",
    subdivision: str | None = None,
    instance_name: str = "loja-centro",
    gateway_token: str = "instance-token-1",
    webhook_secret: str | None = None,
    rate_limit: int | None = None,
    types: list[str] | None = None,
    **config: Any,
) -> World:
    """Tenant + instance + API key through ``billing.services.admin`` (the rows the CLI makes), committed.

    ``session``: a session to commit on (else one unit of work of its own); ``config``: any
    ``billing config set`` field (throttle_per_minute, jitter_s, daily_cap, batch_size, ...).
    """
    from billing.db.engine import unit_of_work
    from billing.services import admin
    from billing.services.tenants import forget_tenant

    if session is None:
        with unit_of_work() as uow:
            world = make_world(
                uow.session,
                gateway_url=gateway_url,
                name=name,
                timezone=timezone,
                subdivision=subdivision,
                instance_name=instance_name,
                gateway_token=gateway_token,
                webhook_secret=webhook_secret,
                rate_limit=rate_limit,
                types=types,
                **config,
            )
        return world
    tenant = admin.create_tenant(
        name, session=session, display_name=f"{name.title()} Ltda", timezone=timezone, subdivision=subdivision
    )
    instance = admin.add_instance(
        tenant,
        session=session,
        name=instance_name,
        url=gateway_url,
        api_key=gateway_token,
        secret_key=SECRET,
        webhook_secret=webhook_secret,
    )
    if config:
        admin.set_config(tenant, session=session, **config)
    _, key = admin.create_api_key(tenant, session=session, name="erp", types=types, rate_limit=rate_limit)
    template_id = _default_template(session, tenant.id)
    session.commit()
    forget_tenant()
    return World(
        tenant.id,
        name,
        tenant.display_name,
        instance.id,
        instance_name,
        gateway_token,
        key,
        timezone,
        webhook_secret,
        template_id,
    )


def _default_template(session: Any, tenant_id: uuid.UUID) -> uuid.UUID:
    import sqlalchemy as sa

    return session.execute(
        sa.text(
            "SELECT id FROM templates WHERE tenant_id = :tenant AND template_type = 'notification' "
            "ORDER BY is_default DESC, name LIMIT 1"
        ),
        {"tenant": tenant_id},
    ).scalar_one()


def phone_of(i: int) -> str:
    return f"+55119{70000000 + i:08d}"


def make_queue(
    session: Any,
    world: World,
    n_contacts: int,
    *,
    template_type: str = "notification",
    status: str = "pending",
    rendered_on: date | None = None,
    due_date: date | None = None,
    amount: Decimal | None = Decimal("150.90"),
    valid_until: datetime | None = None,
    scheduled_for: datetime | None = None,
    first_phone: int = 1,
    variables: dict[str, Any] | None = None,
    instance_id: uuid.UUID | None = None,
    overrides: Sequence[Mapping[str, Any]] = (),
    counters: Mapping[str, int] | None = None,
) -> uuid.UUID:
    """A committed queue of ``n_contacts`` (phones ``phone_of(first_phone + i)``) rendered by the tenant's
    default template, as ingest would; returns its id.

    ``overrides[i]``: columns of contact ``i`` to set as given (status, provider ids, ...);
    ``counters``: the queue's counters (``sent``, ``failed``, ...); ``session``: None opens its own.
    """
    if session is None:
        from billing.db.engine import unit_of_work

        with unit_of_work() as uow:
            return make_queue(
                uow.session,
                world,
                n_contacts,
                template_type=template_type,
                status=status,
                rendered_on=rendered_on,
                due_date=due_date,
                amount=amount,
                valid_until=valid_until,
                scheduled_for=scheduled_for,
                first_phone=first_phone,
                variables=variables,
                instance_id=instance_id,
                overrides=overrides,
                counters=counters,
            )
    import sqlalchemy as sa
    from billing.db.models import BillingCampaign, BillingContact, BillingQueue, Template, TemplateVariation
    from billing.domain.states import TemplateType
    from billing.domain.templates import compile_template
    from billing.domain.variables import ContactData, build_context
    from sqlmodel import select

    ttype = TemplateType(template_type)
    template = session.exec(
        select(Template).where(
            Template.tenant_id == world.tenant_id, Template.template_type == ttype.value, Template.is_default
        )
    ).one()
    variation = session.exec(
        select(TemplateVariation)
        .where(TemplateVariation.template_id == template.id)
        .order_by(TemplateVariation.position)
    ).first()
    compiled = compile_template(variation.body)
    today = rendered_on or datetime.now(ZoneInfo(world.timezone)).date()
    campaign = BillingCampaign(
        tenant_id=world.tenant_id,
        external_id=f"run-{uuid.uuid4().hex[:10]}",
        request_hash=hashlib.sha256(os.urandom(8)).hexdigest(),
        template_id=template.id,
        instance_id=instance_id or world.instance_id,
        template_type=ttype.value,
        priority=ttype.priority,
        scheduled_for=scheduled_for,
        valid_until=valid_until,
    )
    session.add(campaign)
    session.flush()
    queue = BillingQueue(
        tenant_id=world.tenant_id,
        campaign_id=campaign.id,
        instance_id=instance_id or world.instance_id,
        template_type=ttype.value,
        priority=ttype.priority,
        status=status,
        total=n_contacts,
        scheduled_for=scheduled_for,
        valid_until=valid_until,
        **(counters or {}),
    )
    session.add(queue)
    session.flush()
    rows = []
    for i in range(n_contacts):
        data = ContactData(
            phone=phone_of(first_phone + i),
            name=f"Cliente {first_phone + i}",
            due_date=due_date,
            amount=amount,
            invoice_id=f"NF-{first_phone + i}",
            variables=variables or {},
        )
        context = build_context(data, today=today, company=world.company)
        rows.append(
            {
                "id": uuid.uuid4(),
                "tenant_id": world.tenant_id,
                "queue_id": queue.id,
                "position": i,
                "phone": data.phone,
                "name": data.name,
                "due_date": due_date,
                "amount": amount,
                "invoice_id": data.invoice_id,
                "variables": variables,
                "variation_id": variation.id,
                "message": compiled.render(context),
                "rendered_on": today,
                "status": "pending",
                "provider_message_id": None,
                "sent_at": None,
            }
            | dict(overrides[i] if i < len(overrides) else {})
        )
    for start in range(0, len(rows), 1000):
        session.execute(sa.insert(BillingContact), rows[start : start + 1000])
    session.commit()
    return queue.id


def queue_row(session: Any, queue_id: uuid.UUID) -> Any:
    from billing.db.models import BillingQueue

    session.expire_all()
    return session.get(BillingQueue, queue_id)


def contacts_of(session: Any, queue_id: uuid.UUID) -> list[Any]:
    from billing.db.models import BillingContact
    from sqlmodel import select

    session.expire_all()
    return list(
        session.exec(
            select(BillingContact).where(BillingContact.queue_id == queue_id).order_by(BillingContact.position)
        ).all()
    )


def status_counts(session: Any, queue_id: uuid.UUID) -> dict[str, int]:
    counts: dict[str, int] = {}
    for contact in contacts_of(session, queue_id):
        counts[contact.status] = counts.get(contact.status, 0) + 1
    return counts
