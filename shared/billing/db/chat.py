"""Chat history for outgoing billing messages: one conversation per (tenant, instance, phone).

Billing conversations close automatically (the seed's rule): the upsert appends the outgoing message
and leaves the conversation closed, so a customer's reply opens it again in the inbound function.

The sender runs this as a CTE of its outcome statement (one round trip per message): it reads the
recorded contact from ``c`` and writes only when ``:record_chat`` is true (the message was sent).
Parameters: ``:conversation_id``, ``:message_id``, ``:instance_id``, ``:message``, ``:provider_id``,
``:now``, ``:record_chat``.
"""

from __future__ import annotations

# Two CTE entries (data-modifying CTEs must be at the top level of the statement).
RECORD_OUTGOING_CTE = """
conv AS (
    INSERT INTO conversations (id, tenant_id, instance_id, phone, is_open, closed_at, last_message_at, created_at)
    SELECT :conversation_id, c.tenant_id, :instance_id, c.phone, false, :now, :now, :now
      FROM c WHERE :record_chat
    ON CONFLICT (tenant_id, instance_id, phone)
    DO UPDATE SET is_open = false, closed_at = EXCLUDED.closed_at, last_message_at = EXCLUDED.last_message_at
    RETURNING id, tenant_id
), msg AS (
    INSERT INTO messages (id, tenant_id, conversation_id, contact_id, direction, body, provider_message_id,
                          status, created_at)
    SELECT :message_id, conv.tenant_id, conv.id, :contact_id, 'out', :message, :provider_id, 'sent', :now
      FROM conv
    RETURNING id
)"""
