"""The audit row of anything an actor did: who (an API key with its address, or a named operator),
what, on which queue, and the details of that action."""

from __future__ import annotations

import uuid
from typing import Any

from billing.contract.queues import Actor
from billing.db.models import AuditEntry


def audit_entry(
    actor: Actor,
    action: str,
    *,
    queue_id: uuid.UUID | None = None,
    before: str | None = None,
    after: str | None = None,
    **details: Any,
) -> AuditEntry:
    who: dict[str, Any] = {"actor": actor.kind}
    if actor.operator is not None:
        who["operator"] = actor.operator
    return AuditEntry(
        tenant_id=actor.tenant_id,
        api_key_id=actor.api_key_id,
        client_ip=actor.client_ip,
        action=action,
        queue_id=queue_id,
        before_status=before,
        after_status=after,
        details={**details, **who},
    )
