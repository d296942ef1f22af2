"""Inputs and outputs of the queue use cases (status, control, watch), whichever door calls them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypedDict

from billing.errors import PermissionDeniedError

ControlAction = Literal["pause", "resume", "cancel"]


@dataclass(frozen=True)
class Actor:
    """Who acts on a tenant's queues: an ERP through an API key, or an operator at the CLI.

    ``who`` names an operator in the audit log (the API-key id already names an ERP).
    """

    tenant_id: uuid.UUID
    api_key_id: uuid.UUID | None = None
    client_ip: str | None = None
    operator: str | None = None
    template_types: tuple[str, ...] | None = None  # an API key limited to these types; None: all

    def require_type(self, template_type: str) -> None:
        """A key limited to some reminder types neither reads nor acts on a queue of another type."""
        if self.template_types is not None and template_type not in self.template_types:
            raise PermissionDeniedError(f"this API key may not act on {template_type!r} queues")

    @classmethod
    def for_operator(cls, tenant_id: uuid.UUID, who: str) -> Actor:
        return cls(tenant_id=tenant_id, operator=who)

    @property
    def kind(self) -> Literal["api_key", "operator"]:
        return "operator" if self.operator is not None else "api_key"


@dataclass(frozen=True)
class ControlCommand:
    action: ControlAction


RESENDABLE = ("unknown", "failed")


@dataclass(frozen=True)
class ResendCommand:
    """Send these contacts again: an explicit decision, since an ``unknown`` one may have gone out.

    ``statuses``: which contacts (only ``unknown`` and ``failed`` can be resent); ``indexes``: only these
    positions (None: every contact in those statuses)."""

    statuses: tuple[str, ...] = RESENDABLE
    indexes: tuple[int, ...] | None = None


class FailureItem(TypedDict):
    """A failed contact as the status lists it (built by PostgreSQL as JSON, so a dict)."""

    index: int
    phone: str
    invoice_id: str | None
    error: str | None


@dataclass(frozen=True)
class QueueStatusView:
    """One queue's counters, progress and ETA, and one page of its failures: ``failures_json``, the JSON
    array of ``FailureItem`` exactly as the API documents them, built by the database."""

    queue_id: str
    external_id: str | None
    template_type: str
    status: str
    total: int
    sent: int
    failed: int
    pending: int
    cancelled: int
    unknown: int
    expired: int
    skipped: int
    delivered: int
    read: int
    progress: float
    estimated_completion: datetime | None
    paused_reason: str | None
    resume_at: datetime | None
    created_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    failures_json: str = "[]"
    next_failures_cursor: str | None = None
    replied: int = 0
    opted_out: int = 0
    last_event_id: int | None = None

    @property
    def failures(self) -> list[FailureItem]:
        """The page of failures, parsed (the status route carries ``failures_json`` as it is)."""
        items: list[FailureItem] = json.loads(self.failures_json)
        return items


@dataclass(frozen=True)
class ContactQuery:
    """Which contacts of a queue to list: by status and invoice, one page after ``cursor``."""

    statuses: tuple[str, ...] = ()
    invoice_id: str | None = None
    cursor: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class ContactPage:
    """One page of a queue's contacts. ``items_json``: the JSON array of items exactly as the API
    documents them (``ContactsResponse.items``), built by the database in one statement."""

    items_json: str
    next_cursor: str | None
