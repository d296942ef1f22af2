"""A health check due on an instance claims its next contact too: check, then send, in one worker

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 10:40:00

``billing_dispatch`` claimed a due health check on its own (kind ``check``) and the contact only in a
later round, once the check's answer had come back to the coordinator and been written. A burst of
instances due at once (a thousand numbers woken together, each checked before its first send) paid a
whole extra round per instance: measured with the checks already stamped, 1,000 instances on 2 senders
reached 0.69-0.73 of the ideal rate against 0.61 with them. Now the check branch stamps
``health_checked_at`` as before and goes on to claim the instance's next contact like any due slot,
returning it as kind ``check_send``: the worker asks the gateway for the instance's state first and
sends only when it is ``open`` (the check still comes before the send); otherwise the contact goes
back untouched and the instance is recorded down, as when a send finds it down. The slot is taken at
the claim, and the check's duration counts as the call's lateness, which moves the next slot before
the call (the pace holds). Nothing to claim behind the check (a queue another writer holds): the check
alone, kind ``check``, as before. The function is 0025's with that branch changed.
"""

from __future__ import annotations

from importlib import import_module

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_0025 = import_module("billing.db.migrations.versions.0025_send_proves_health")

_SIGNATURE = _0025._SIGNATURE
_CHECK_HEAD = "        IF w.health_checked_at IS NULL OR w.health_checked_at < p_check_before THEN\n"
_START = _0025.DISPATCH.index(_CHECK_HEAD)
_END = _0025.DISPATCH.index("        END IF;\n", _START) + len("        END IF;\n")
_CHECK_ONLY = _0025.DISPATCH[_START:_END]  # stamp, return the check alone, next instance
assert _CHECK_ONLY.count("RETURN QUERY SELECT 'check'::text") == 1 and _CHECK_ONLY.count("CONTINUE;") == 1
_CHECK_THEN_SEND = """        v_check := w.health_checked_at IS NULL OR w.health_checked_at < p_check_before;
        IF v_check THEN
            UPDATE whatsapp_instances SET health_checked_at = p_now WHERE whatsapp_instances.id = w.id;
        END IF;
"""
_NO_CONTACT = "        CONTINUE WHEN v_cid IS NULL;\n"
_CHECK_ALONE = """        IF v_cid IS NULL AND v_check THEN
            -- Nothing claimable behind the check right now: the check alone.
            RETURN QUERY SELECT 'check'::text, w.id, w.gateway_url, w.gateway_instance, w.api_key_encrypted,
                   w.api_version, w.next_send_at, w.next_send_at, NULL::uuid, NULL::varchar,
                   NULL::timestamptz, NULL::uuid, w.tenant_id, NULL::varchar, NULL::varchar, NULL::date,
                   NULL::numeric, NULL::varchar, NULL::varchar, NULL::varchar, NULL::jsonb, NULL::uuid,
                   NULL::text, NULL::date, NULL::integer, NULL::timestamptz, NULL::varchar, NULL::boolean,
                   NULL::uuid, NULL::bigint;
        END IF;
        CONTINUE WHEN v_cid IS NULL;
"""
_SEND_KIND = "        RETURNING 'send'::text, w.id,"
_SEND_OR_CHECK_SEND = "        RETURNING CASE WHEN v_check THEN 'check_send' ELSE 'send' END, w.id,"
_DECLARE = "    v_base timestamptz;\n"
_DECLARE_CHECK = "    v_base timestamptz;\n    v_check boolean := false;\n"

for _old in (_CHECK_ONLY, _NO_CONTACT, _SEND_KIND, _DECLARE):
    assert _0025.DISPATCH.count(_old) == 1, _old
DISPATCH = (
    _0025.DISPATCH.replace(_CHECK_ONLY, _CHECK_THEN_SEND)
    .replace(_NO_CONTACT, _CHECK_ALONE)
    .replace(_SEND_KIND, _SEND_OR_CHECK_SEND)
    .replace(_DECLARE, _DECLARE_CHECK)
)


def upgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(DISPATCH)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SIGNATURE}")
    op.execute(_0025.DISPATCH)
