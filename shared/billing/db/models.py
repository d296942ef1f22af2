"""SQLModel tables. Every tenant-owned row carries ``tenant_id``; keys are UUIDs; times are aware.

Statuses are stored as short strings checked by constraints; their meaning lives in
``billing.domain.states``.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlmodel import Field, SQLModel

from billing.domain.states import ContactStatus, QueueStatus, TemplateType

# Tables without a tenant (global, or the tenant itself). Everything else must have tenant_id.
GLOBAL_TABLES = frozenset({"tenants", "rate_limit_buckets", "console_operators"})  # an operator may span tenants


def _tz(*, nullable: bool = True, default_now: bool = False, index: bool = False) -> Any:
    return sa.Column(
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=sa.func.now() if default_now else None,
        index=index,
    )


def _tenant_fk() -> Any:
    return Field(foreign_key="tenants.id", index=True, ondelete="CASCADE")


def _in(column: str, values: Any) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


def _new_id() -> uuid.UUID:
    return uuid.uuid4()


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    name: str = Field(max_length=100, sa_column_kwargs={"unique": True})
    display_name: str = Field(max_length=200)
    created_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True))


class WhatsAppInstance(SQLModel, table=True):
    __tablename__ = "whatsapp_instances"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "name", name="uq_instance_tenant_name"),
        # Dispatch looks for the next due slot by time (migration 0008).
        sa.Index("ix_instance_next_send", "next_send_at"),
        # ... and due instances in slot order, never claimed first (migration 0027).
        sa.Index("ix_instance_due", sa.text("coalesce(next_send_at, '-infinity'::timestamptz)")),
    )
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = _tenant_fk()
    name: str = Field(max_length=100)
    gateway_url: str = Field(max_length=500)
    # The gateway instance name when it differs from ours (defaults to ``name``).
    gateway_instance: str = Field(max_length=100)
    api_key_encrypted: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    api_version: str = Field(default="v2", max_length=4)
    webhook_secret_hash: str | None = Field(default=None, max_length=128)
    next_send_at: datetime | None = Field(default=None, sa_column=_tz())
    daily_count: int = Field(default=0)
    daily_count_date: date | None = Field(default=None)
    health_state: str = Field(default="unknown", max_length=20)
    health_checked_at: datetime | None = Field(default=None, sa_column=_tz())
    created_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True))


class BillingConfig(SQLModel, table=True):
    __tablename__ = "billing_configs"
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE", sa_column_kwargs={"unique": True})
    throttle_per_minute: int = Field(default=20, ge=1, le=600)
    jitter_s: float = Field(default=2.0, ge=0)
    daily_cap: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=100, ge=1, le=10_000)
    max_contacts_per_request: int = Field(default=10_000, ge=1, le=100_000)
    api_rate_limit_per_minute: int = Field(default=60, ge=1)
    # Reads (status, contacts, queue lookup) have their own budget per key (0010).
    api_read_rate_limit_per_minute: int = Field(default=600, ge=1, sa_column_kwargs={"server_default": sa.text("600")})
    default_instance_id: uuid.UUID | None = Field(
        default=None, foreign_key="whatsapp_instances.id", ondelete="SET NULL"
    )
    timezone: str = Field(default="America/Sao_Paulo", max_length=64)
    locale: str = Field(default="pt_BR", max_length=16)
    country: str = Field(default="BR", max_length=2)
    subdivision: str | None = Field(default=None, max_length=8)
    default_region: str = Field(default="BR", max_length=2)
    opt_out_keywords: list[str] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    opt_out_confirmation: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    # Days finished queues' contacts, chat history and audit entries are kept (LGPD minimisation).
    retention_days: int = Field(default=180, ge=7, le=3650, sa_column_kwargs={"server_default": sa.text("180")})
    # Bumped by triggers on any change of the configuration, hours or closed dates (0016): caches check it.
    settings_version: int = Field(
        default=0, sa_column=sa.Column(sa.BigInteger(), nullable=False, server_default=sa.text("0"))
    )


class BusinessHoursWindow(SQLModel, table=True):
    __tablename__ = "business_hours"
    __table_args__ = (
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="ck_hours_weekday"),
        sa.CheckConstraint("end_time > start_time", name="ck_hours_order"),
    )
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = _tenant_fk()
    weekday: int
    start_time: time
    end_time: time


class ClosedDate(SQLModel, table=True):
    __tablename__ = "closed_dates"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "day", name="uq_closed_date"),)
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = _tenant_fk()
    day: date
    reason: str | None = Field(default=None, max_length=200)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name", name="uq_apikey_tenant_name"),)
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = _tenant_fk()
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16, sa_column_kwargs={"unique": True})
    key_hash: str = Field(max_length=128)
    active: bool = Field(default=True)
    expires_at: datetime | None = Field(default=None, sa_column=_tz())
    allowed_ips: list[str] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    allowed_types: list[str] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    read_only: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    rate_limit_per_minute: int | None = Field(default=None, ge=1)
    last_used_at: datetime | None = Field(default=None, sa_column=_tz())
    revoked_at: datetime | None = Field(default=None, sa_column=_tz())
    created_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True))


class Template(SQLModel, table=True):
    __tablename__ = "templates"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "name", name="uq_template_tenant_name"),
        sa.CheckConstraint(_in("template_type", TemplateType), name="ck_template_type"),
        sa.Index(
            "uq_template_default_per_type",
            "tenant_id",
            "template_type",
            unique=True,
            postgresql_where=sa.text("is_default"),
        ),
    )
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = _tenant_fk()
    template_type: str = Field(max_length=20)
    name: str = Field(max_length=100)
    is_default: bool = Field(default=False)
    variables_schema: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    created_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True))


class TemplateVariation(SQLModel, table=True):
    __tablename__ = "template_variations"
    __table_args__ = (
        sa.UniqueConstraint("template_id", "position", name="uq_variation_position"),
        sa.CheckConstraint("position BETWEEN 1 AND 5", name="ck_variation_position"),
        sa.CheckConstraint("weight >= 0", name="ck_variation_weight"),
    )
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = _tenant_fk()
    template_id: uuid.UUID = Field(foreign_key="templates.id", index=True, ondelete="CASCADE")
    position: int
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    weight: int = Field(default=1)
    active: bool = Field(default=True)


class BillingCampaign(SQLModel, table=True):
    __tablename__ = "billing_campaigns"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "external_id", name="uq_campaign_external_id"),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_campaign_idempotency_key"),
    )
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = _tenant_fk()
    external_id: str | None = Field(default=None, max_length=255, index=True)
    idempotency_key: str | None = Field(default=None, max_length=255)
    request_hash: str = Field(max_length=64)
    response: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    template_id: uuid.UUID = Field(foreign_key="templates.id")
    instance_id: uuid.UUID = Field(foreign_key="whatsapp_instances.id")
    template_type: str = Field(max_length=20)
    priority: int
    scheduled_for: datetime | None = Field(default=None, sa_column=_tz())
    valid_until: datetime | None = Field(default=None, sa_column=_tz())
    api_key_id: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id", ondelete="SET NULL")
    created_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True, index=True))


class BillingQueue(SQLModel, table=True):
    __tablename__ = "billing_queues"
    __table_args__ = (
        sa.CheckConstraint(_in("status", QueueStatus), name="ck_queue_status"),
        sa.Index("ix_queue_tenant_status", "tenant_id", "status"),
        sa.Index("ix_queue_tenant_created", "tenant_id", "created_at", "id"),  # the console's list (0024)
        sa.Index("ix_queue_status_scheduled", "status", "scheduled_for"),
        sa.Index("ix_queue_processing", "processing_by", "status"),
        sa.Index("ix_queue_status_resume", "status", "resume_at"),
        sa.Index(
            "ix_queue_unpublished", "created_at", postgresql_where=sa.text("published_at IS NULL")
        ),
        # The queues dispatch may serve on an instance, by priority then age (migration 0008).
        sa.Index(
            "ix_queue_runnable",
            "instance_id",
            "priority",
            "created_at",
            postgresql_where=sa.text("status IN ('pending', 'running', 'paused_business_hours')"),
        ),
    )
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = _tenant_fk()
    campaign_id: uuid.UUID = Field(
        foreign_key="billing_campaigns.id", ondelete="CASCADE", sa_column_kwargs={"unique": True}
    )
    instance_id: uuid.UUID = Field(foreign_key="whatsapp_instances.id", index=True)
    template_type: str = Field(max_length=20)
    priority: int
    status: str = Field(default=QueueStatus.PENDING.value, max_length=32)
    total: int = Field(default=0)
    sent: int = Field(default=0)
    failed: int = Field(default=0)
    cancelled: int = Field(default=0)
    unknown: int = Field(default=0)
    expired: int = Field(default=0)
    skipped: int = Field(default=0)
    delivered: int = Field(default=0)
    read: int = Field(default=0)
    # Customers who answered (or opted out after) a reminder of this queue (0011).
    replied: int = Field(default=0, sa_column_kwargs={"server_default": sa.text("0")})
    opted_out: int = Field(default=0, sa_column_kwargs={"server_default": sa.text("0")})
    processing_by: str | None = Field(default=None, max_length=100)
    lease_expires_at: datetime | None = Field(default=None, sa_column=_tz())
    last_heartbeat: datetime | None = Field(default=None, sa_column=_tz())
    paused_reason: str | None = Field(default=None, max_length=200)
    resume_at: datetime | None = Field(default=None, sa_column=_tz())
    scheduled_for: datetime | None = Field(default=None, sa_column=_tz())
    valid_until: datetime | None = Field(default=None, sa_column=_tz())
    published_at: datetime | None = Field(default=None, sa_column=_tz())
    created_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True, index=True))
    updated_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True))
    started_at: datetime | None = Field(default=None, sa_column=_tz())
    completed_at: datetime | None = Field(default=None, sa_column=_tz())


class BillingContact(SQLModel, table=True):
    __tablename__ = "billing_contacts"
    __table_args__ = (
        sa.UniqueConstraint("queue_id", "position", name="uq_contact_position"),
        sa.CheckConstraint(_in("status", ContactStatus), name="ck_contact_status"),
        # Serves "next claimable contact of a queue" without touching finished rows.
        sa.Index(
            "ix_contact_claimable",
            "queue_id",
            "position",
            postgresql_where=sa.text("status IN ('pending', 'pending_retry')"),
        ),
        # Pages of a queue's contacts by status, in position order (contact listing, 0009).
        sa.Index("ix_contact_queue_status_position", "queue_id", "status", "position"),
        # An invoice's contacts across the tenant's queues (invoice cancel, listing by invoice; 0009).
        sa.Index(
            "ix_contact_tenant_invoice", "tenant_id", "invoice_id", postgresql_where=sa.text("invoice_id IS NOT NULL")
        ),
        sa.Index("ix_contact_tenant_phone", "tenant_id", "phone"),
        sa.Index(
            "ix_contact_provider_id",
            "provider_message_id",
            postgresql_where=sa.text("provider_message_id IS NOT NULL"),
        ),
        # Serves the status route's failure pages (first 100 failed contacts by position, then a cursor).
        sa.Index("ix_contact_failed", "queue_id", "position", postgresql_where=sa.text("status = 'failed'")),
        # The sweeper finds claims older than BILLING_LEASE_S; dispatch finds the next retry time (0008).
        sa.Index("ix_contact_sending", "updated_at", postgresql_where=sa.text("status = 'sending'")),
        sa.Index("ix_contact_retry_at", "next_attempt_at", postgresql_where=sa.text("status = 'pending_retry'")),
    )
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    queue_id: uuid.UUID = Field(foreign_key="billing_queues.id", ondelete="CASCADE")
    position: int
    phone: str = Field(max_length=20)
    name: str | None = Field(default=None, max_length=200)
    due_date: date | None = None
    amount: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric(14, 2), nullable=True))
    invoice_id: str | None = Field(default=None, max_length=100)
    payment_link: str | None = Field(default=None, max_length=2000)
    pix_code: str | None = Field(default=None, max_length=1000)
    variables: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    variation_id: uuid.UUID | None = Field(default=None, foreign_key="template_variations.id")
    message: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    rendered_on: date
    status: str = Field(default=ContactStatus.PENDING.value, max_length=20)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_column=_tz())
    claimed_by: str | None = Field(default=None, max_length=100)
    last_error: str | None = Field(default=None, max_length=500)
    provider_message_id: str | None = Field(default=None, max_length=128)
    remote_jid: str | None = Field(default=None, max_length=128)
    sent_at: datetime | None = Field(default=None, sa_column=_tz())
    delivery_status: str | None = Field(default=None, max_length=20)
    delivered_at: datetime | None = Field(default=None, sa_column=_tz())
    read_at: datetime | None = Field(default=None, sa_column=_tz())
    replied_at: datetime | None = Field(default=None, sa_column=_tz())
    updated_at: datetime | None = Field(default=None, sa_column=_tz())
    # Set by an invoice cancel while the contact's call was in flight: if it does not go out, it is
    # cancelled (with this reason) instead of going back to pending (0014, enforced by triggers).
    cancel_requested_at: datetime | None = Field(default=None, sa_column=_tz())
    cancel_reason: str | None = Field(default=None, max_length=500)


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "instance_id", "phone", name="uq_conversation_phone"),
        # The inbox: a tenant's conversations, most recent first (0011).
        sa.Index("ix_conversation_tenant_last", "tenant_id", "last_message_at", "id"),
        # Its open conversations alone, whatever the closed history (0024).
        sa.Index(
            "ix_conversation_tenant_open_last",
            "tenant_id",
            "last_message_at",
            "id",
            postgresql_where=sa.text("is_open"),
        ),
    )
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = _tenant_fk()
    instance_id: uuid.UUID = Field(foreign_key="whatsapp_instances.id", ondelete="CASCADE")
    phone: str = Field(max_length=20)
    is_open: bool = Field(default=True)
    closed_at: datetime | None = Field(default=None, sa_column=_tz())
    last_message_at: datetime | None = Field(default=None, sa_column=_tz())
    # Customer messages since the conversation was last closed: a reminder never closes it while > 0.
    unread: int = Field(default=0, sa_column_kwargs={"server_default": sa.text("0")})
    last_inbound_at: datetime | None = Field(default=None, sa_column=_tz())
    created_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True))


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        sa.CheckConstraint("direction IN ('in', 'out')", name="ck_message_direction"),
        sa.Index("ix_message_conversation", "conversation_id", "created_at"),
        sa.Index("ix_message_tenant_created", "tenant_id", "created_at"),
    )
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = _tenant_fk()
    conversation_id: uuid.UUID = Field(foreign_key="conversations.id", ondelete="CASCADE")
    contact_id: uuid.UUID | None = Field(default=None, foreign_key="billing_contacts.id", ondelete="SET NULL")
    direction: str = Field(max_length=3)
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    provider_message_id: str | None = Field(default=None, max_length=128, index=True)
    status: str | None = Field(default=None, max_length=20)
    created_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True))


class Suppression(SQLModel, table=True):
    __tablename__ = "suppressions"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "phone", name="uq_suppression_phone"),)
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = _tenant_fk()
    phone: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=200)
    created_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True))


class RateLimitBucket(SQLModel, table=True):
    """A fixed-window request counter; ``key`` names the subject and the window it counts."""

    __tablename__ = "rate_limit_buckets"
    key: str = Field(primary_key=True, max_length=200)
    hits: int = Field(default=0)
    expires_at: datetime = Field(sa_column=_tz(nullable=False, index=True))


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entries"
    __table_args__ = (sa.Index("ix_audit_tenant_created", "tenant_id", "created_at"),)
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    api_key_id: uuid.UUID | None = Field(default=None, foreign_key="api_keys.id", ondelete="SET NULL")
    client_ip: str | None = Field(default=None, sa_column=sa.Column(INET, nullable=True))
    action: str = Field(max_length=50)
    queue_id: uuid.UUID | None = Field(default=None, foreign_key="billing_queues.id", ondelete="CASCADE")
    before_status: str | None = Field(default=None, max_length=32)
    after_status: str | None = Field(default=None, max_length=32)
    details: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    created_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True))


class ConsoleOperator(SQLModel, table=True):
    """A person who signs in to the web console (migration 0022). ``tenant_id`` None: every tenant.
    ``session_epoch`` is in every session cookie; bumping it signs every session of the operator out."""

    __tablename__ = "console_operators"
    __table_args__ = (
        sa.CheckConstraint("role IN ('viewer', 'operator', 'admin')", name="ck_console_operator_role"),
        sa.Index("uq_console_operator_email", sa.text("lower(email)"), unique=True),
    )
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    email: str = Field(max_length=254)
    password_hash: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    role: str = Field(max_length=10)
    tenant_id: uuid.UUID | None = Field(default=None, foreign_key="tenants.id", index=True, ondelete="CASCADE")
    active: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    session_epoch: int = Field(default=0, sa_column_kwargs={"server_default": sa.text("0")})
    last_login_at: datetime | None = Field(default=None, sa_column=_tz())
    created_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True))


metadata = SQLModel.metadata


class WebhookReceipt(SQLModel, table=True):
    """One gateway event already applied: the gateway retries up to 10 times and reorders, so
    ``(tenant, message key id, status)`` is recorded once and later copies are recognised."""

    __tablename__ = "webhook_receipts"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "provider_message_id", "status", name="uq_webhook_receipt"),
    )
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = _tenant_fk()
    provider_message_id: str = Field(max_length=128)
    status: str = Field(max_length=20)
    received_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True, index=True))


class BillingEvent(SQLModel, table=True):
    """One state change that matters to an ERP or a screen (the outbox of the real-time channels).

    Written by triggers in the transaction of the change itself (migration 0019), so an event exists if
    and only if its change committed. ``id`` is insertion order; ``seq`` is the public event id, given in
    commit order by ``billing_sequence_events()`` once the row is visible, so a reader that resumes after
    ``seq`` N can never miss an event that committed late with a lower ``id``."""

    __tablename__ = "billing_events"
    __table_args__ = (
        sa.Index("ix_event_tenant_seq", "tenant_id", "seq"),
        sa.Index("ix_event_queue_seq", "queue_id", "seq"),
        sa.Index("ix_event_seq", "seq", unique=True),
        sa.Index("ix_event_unsequenced", "id", postgresql_where=sa.text("seq IS NULL")),
    )
    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True)
    )
    seq: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, nullable=True))
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    type: str = Field(max_length=40)
    queue_id: uuid.UUID | None = Field(default=None)
    occurred_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True))
    data: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))


class WebhookEndpoint(SQLModel, table=True):
    """An ERP's URL that receives the tenant's events as Standard Webhooks, one at a time, in id order
    (migration 0020). ``last_event_id`` is its cursor: every event up to it was acknowledged (or filtered
    out). The deliverer holds an endpoint through ``leased_by``/``lease_until`` while it posts."""

    __tablename__ = "billing_endpoints"
    id: uuid.UUID = Field(default_factory=_new_id, primary_key=True)
    tenant_id: uuid.UUID = _tenant_fk()
    url: str = Field(max_length=2000)
    # The filters as given (``queue.*``, ``contact.failed``); None: every event type.
    event_types: list[str] | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    # ``whsec_...`` encrypted with BILLING_SECRET_KEY, like an instance's gateway key.
    secret_encrypted: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    enabled: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    disabled_reason: str | None = Field(default=None, max_length=200)
    disabled_at: datetime | None = Field(default=None, sa_column=_tz())
    last_event_id: int = Field(
        default=0, sa_column=sa.Column(sa.BigInteger(), nullable=False, server_default=sa.text("0"))
    )
    # Failed attempts in a row at the event after the cursor, since ``failing_since``.
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": sa.text("0")})
    failing_since: datetime | None = Field(default=None, sa_column=_tz())
    next_attempt_at: datetime | None = Field(default=None, sa_column=_tz())
    leased_by: str | None = Field(default=None, max_length=40)
    lease_until: datetime | None = Field(default=None, sa_column=_tz())
    created_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True))


class WebhookDelivery(SQLModel, table=True):
    """One POST to an endpoint and how it went: what ``billing endpoint show`` lists as recent deliveries.
    The sweeper keeps the latest ``DELIVERIES_KEPT`` of each endpoint."""

    __tablename__ = "billing_endpoint_deliveries"
    __table_args__ = (sa.Index("ix_endpoint_delivery_recent", "endpoint_id", "id"),)
    id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(always=True), primary_key=True))
    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", ondelete="CASCADE")
    endpoint_id: uuid.UUID = Field(foreign_key="billing_endpoints.id", ondelete="CASCADE")
    event_id: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    event_type: str = Field(max_length=40)
    # 1 for the first try of this event, 2 for its first retry...
    attempt: int
    status_code: int | None = Field(default=None)
    outcome: str = Field(max_length=20)
    error: str | None = Field(default=None, max_length=200)
    duration_ms: int
    attempted_at: datetime | None = Field(default=None, sa_column=_tz(nullable=False, default_now=True))
