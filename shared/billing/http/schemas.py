"""Response bodies shared by the ERP-facing routes (requests live beside their service)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ProblemError(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = None


class Failure(BaseModel):
    index: int = Field(description="position of the contact in the original request (0-based)")
    phone: str
    invoice_id: str | None = None
    error: str | None = None


class StatusResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue_id: str
    external_id: str | None
    template_type: Literal["overdue", "upcoming", "notification"]
    status: Literal[
        "pending",
        "scheduled",
        "running",
        "paused",
        "paused_business_hours",
        "instance_down",
        "completed",
        "cancelled",
        "failed",
    ]
    total: int
    sent: int
    failed: int
    pending: int = Field(description="contacts not yet in a final state")
    cancelled: int
    unknown: int
    expired: int
    skipped: int
    delivered: int = 0
    read: int = 0
    progress: float = Field(ge=0, le=1)
    estimated_completion: datetime | None
    paused_reason: str | None
    resume_at: datetime | None
    created_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    failures: list[Failure]
    next_failures_cursor: str | None = None


class ControlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["pause", "resume", "cancel"]
