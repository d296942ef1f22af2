"""a claimed slot holds a reserve for its call to start in; the record gives back what was not used

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 12:40:00

A claim set the instance's next slot one step (pace, guard, jitter) after the claim. A call that started
more than half the guard (50 ms) after its claim had to move that slot first, in a transaction of its
own, before calling: in a burst (1,000 instances due at once) workers queued for a pooled connection to
make those moves, every wait made them later still, and 41 % of the workers' time went to waiting.

Now ``billing_dispatch`` takes the slot a reserve further out (15 % of the step, at most 0.5 s;
domain.pacing.SLOT_RESERVE_*), so a call may start that much later without any move. The outcome
carries the slot its claim left (after any move before the call) and how far to move it
(``slot_move_s``: the lateness the call really had minus the reserve and the moves, usually negative,
plus how much longer than the guard the call took: the gateway saw the message at the latest when it
answered); ``billing_record_send`` moves the slot by it only while the slot is still that one, due or
not (no later claim holds it, no move put it elsewhere), so the steady pace stays the step, and a slow
call's next message waits a pace after its answer (when another sender has claimed the slot first, it
stays: see docs/sender.md). A
sender that dies before recording leaves the reserve in place: its instance waits that much longer once.

Both functions are 0025's and 0011's, changed by checked replacement.
"""

from __future__ import annotations

from importlib import import_module

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_0011 = import_module("billing.db.migrations.versions.0011_inbox")
_0025 = import_module("billing.db.migrations.versions.0025_send_proves_health")

_DISPATCH_SIGNATURE = _0025._SIGNATURE
_OLD_RECORD_SIGNATURE = (
    "billing_record_send(uuid, uuid, uuid, text, timestamptz, text, integer, timestamptz, text, text, text, "
    "timestamptz, text, date, boolean, integer, integer, integer, integer, integer, uuid, uuid, double precision)"
)
_RECORD_SIGNATURE = _OLD_RECORD_SIGNATURE.replace("double precision)", "double precision, timestamptz)")


def _edit(body: str, edits: tuple[tuple[str, str], ...]) -> str:
    for old, new in edits:
        assert body.count(old) == 1, old
        body = body.replace(old, new)
    return body


DISPATCH = _edit(
    _0025.DISPATCH,
    (
        ("    v_base timestamptz;\n", "    v_base timestamptz;\n    v_step double precision;\n"),
        ("x.message_id, x.late_s)), 0)", "x.message_id, x.slot_move_s, x.slot)), 0)"),
        (
            "conversation_id uuid, message_id uuid, late_s double precision)",
            "conversation_id uuid, message_id uuid, slot_move_s double precision, slot timestamptz)",
        ),
        (
            """            -- The pace, a guard of 5 % of it (at most 0.1 s) for a request that reaches the gateway a
            -- little after its slot (domain.pacing.SLOT_GUARD_*), and the jitter.
            v_next := v_base + make_interval(secs => 60.0 / w.throttle_per_minute
                                             + least(0.05 * 60.0 / w.throttle_per_minute, 0.1)
                                             + random() * w.jitter_s);
""",
            """            -- The step: the pace, a guard of 5 % of it (at most 0.1 s) for a request that reaches the
            -- gateway a little after its slot (domain.pacing.SLOT_GUARD_*), and the jitter; then a reserve
            -- of 15 % of the step (at most 0.5 s) for the call to start in, which the outcome's record
            -- gives back (domain.pacing.SLOT_RESERVE_*).
            v_step := 60.0 / w.throttle_per_minute + least(0.05 * 60.0 / w.throttle_per_minute, 0.1)
                      + random() * w.jitter_s;
            v_next := v_base + make_interval(secs => v_step + least(0.15 * v_step, 0.5));
""",
        ),
    ),
)

RECORD_SEND = _edit(
    _0011.RECORD_SEND,
    (
        (
            "p_conversation_id uuid, p_message_id uuid, p_late_s double precision",
            "p_conversation_id uuid, p_message_id uuid, p_slot_move_s double precision, p_slot timestamptz",
        ),
        (
            """    -- The call started p_late_s after the claim (a busy worker): the instance's next slot moves as
    -- much, so the gap the gateway sees is never shorter than the pace.
    -- Never waits: an instance locked by a claim in progress is having its slot taken right now.
    IF p_late_s > 0.01 THEN
        UPDATE whatsapp_instances SET next_send_at = next_send_at + make_interval(secs => p_late_s)
         WHERE id = (SELECT wi.id FROM whatsapp_instances wi
                      WHERE wi.id = p_instance_id AND wi.next_send_at > p_now FOR NO KEY UPDATE SKIP LOCKED);
    END IF;
""",
            """    -- The slot the claim set (p_slot) held a reserve for the call to start in: it moves by what the
    -- call did not use (p_slot_move_s, negative), or later when the call started later still or took
    -- longer than the guard, so it ends one step after the call's start and a pace after its answer.
    -- Only while it is still that slot, due or not: once another claim has taken it, or a move put it
    -- elsewhere, it stays. Never waits: an instance locked by a claim in progress is having its slot
    -- taken right now.
    IF p_slot IS NOT NULL AND abs(p_slot_move_s) > 0.001 THEN
        UPDATE whatsapp_instances SET next_send_at = next_send_at + make_interval(secs => p_slot_move_s)
         WHERE id = (SELECT wi.id FROM whatsapp_instances wi
                      WHERE wi.id = p_instance_id AND wi.next_send_at = p_slot FOR NO KEY UPDATE SKIP LOCKED);
    END IF;
""",
        ),
    ),
)


# Senders of the previous release still running while this one rolls out record with 23 arguments (no
# slot): they keep working, with no slot move (the reserve stays, which only spaces their messages a
# little more). The next migration that touches these functions may drop it.
RECORD_SEND_PREVIOUS = f"""
CREATE OR REPLACE FUNCTION {_OLD_RECORD_SIGNATURE}
RETURNS integer LANGUAGE sql VOLATILE
AS $$ SELECT billing_record_send({", ".join(f"${n}" for n in range(1, 23))}, 0.0::double precision, NULL::timestamptz) $$
"""


def upgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_DISPATCH_SIGNATURE}")
    op.execute(f"DROP FUNCTION IF EXISTS {_OLD_RECORD_SIGNATURE}")
    op.execute(RECORD_SEND)
    op.execute(RECORD_SEND_PREVIOUS)
    op.execute(DISPATCH)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_DISPATCH_SIGNATURE}")
    op.execute(f"DROP FUNCTION IF EXISTS {_RECORD_SIGNATURE}")
    op.execute(f"DROP FUNCTION IF EXISTS {_OLD_RECORD_SIGNATURE}")
    op.execute(_0011.RECORD_SEND)
    op.execute(_0025.DISPATCH)
