"""Truth at send time: a message rendered on an earlier tenant-local day is rendered again, same variation.

Day counts (``dias_atraso``, ``dias_para_vencer``, ``vence_hoje``) must be true on the day the message is
sent (docs/api.md, "Sending reminders"), so a queue paused over midnight sends tomorrow's numbers.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING

from billing.db import claims
from billing.domain.templates import compile_template
from billing.domain.variables import ContactData, build_context
from billing.errors import DomainError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from billing.services.tenants import TenantRuntime

logger = logging.getLogger(__name__)


def rerender_if_stale(
    conn: Connection, contact: claims.ClaimedContact, tenant: TenantRuntime, today: date
) -> tuple[str, date, str | None]:
    """(message, rendered_on, error). Unchanged when rendered today or without a known variation."""
    if contact.rendered_on == today or contact.variation_id is None:
        return contact.message, contact.rendered_on, None
    with conn.begin():
        body = claims.variation_body(conn, variation_id=contact.variation_id, tenant_id=contact.tenant_id)
    if body is None:
        logger.warning(
            "variation gone; sending the message as rendered",
            extra={"action": "sender.rerender_missing", "contact_id": contact.id},
        )
        return contact.message, contact.rendered_on, None
    data = ContactData(
        phone=contact.phone,
        name=contact.name,
        due_date=contact.due_date,
        amount=contact.amount,
        invoice_id=contact.invoice_id,
        payment_link=contact.payment_link,
        pix_code=contact.pix_code,
        variables=contact.variables or {},
    )
    try:
        context = build_context(data, today=today, company=tenant.company, locale=tenant.config.locale)
        return compile_template(body).render(context), today, None
    except DomainError as exc:
        return contact.message, contact.rendered_on, f"could not render the message again: {exc}"[:500]
