"""dispatch by pacing slot: claim due instances' next contacts, record outcomes without queue leases

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 16:30:00

The unit of delivery work becomes an instance's pacing slot. ``billing_dispatch`` locks up to
``p_limit`` instances whose slot is due (``FOR NO KEY UPDATE SKIP LOCKED``: a transaction inserting a queue
on the instance holds a key-share lock that must not hide it), takes each one's next contact from
its highest-priority runnable queue (overdue, upcoming, notification; oldest queue first), marks it
``sending`` and advances the slot, all in the caller's short transaction. ``billing_record_send``
records one outcome guarded by the claim token and completes the queue when nothing is left open.
Per-queue leases (``processing_by``, ``lease_expires_at``) are no longer taken; old ones are cleared.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Locks are NO KEY UPDATE: an ingest inserting a queue (or the record inserting a chat message) holds a
# key-share lock on the row it references, which FOR UPDATE SKIP LOCKED would take for "busy".
# Instances in ``p_busy`` (a call of this invocation is in flight on them) are skipped: one number sends
# one message at a time, even with pacing off or a gateway slower than the pace.
# One row per locked instance, then (when nothing was claimed) a row of kind 'next' whose
# next_send_at says when to look again (NULL: nothing ahead). Per locked instance: kind 'send' (a contact was claimed), 'check' (the instance's health check
# is due: nothing claimed, the check is claimed by stamping health_checked_at), 'down' (the instance is
# reported closed: its queues were parked instance_down), 'cap' (its daily cap is used up: the slot moved
# to the next tenant-local midnight).
DISPATCH = """
CREATE OR REPLACE FUNCTION billing_dispatch(p_now timestamptz, p_claim text, p_limit integer,
                                            p_pacing_off boolean, p_check_before timestamptz, p_busy uuid[],
                                            p_outcomes jsonb)
RETURNS TABLE (
    kind text, instance_id uuid, gateway_url varchar, gateway_instance varchar, api_key_encrypted text,
    api_version varchar, prev_next_send_at timestamptz, next_send_at timestamptz,
    queue_id uuid, template_type varchar, valid_until timestamptz,
    id uuid, tenant_id uuid, phone varchar, name varchar, due_date date, amount numeric, invoice_id varchar,
    payment_link varchar, pix_code varchar, variables jsonb, variation_id uuid, message text,
    rendered_on date, attempts integer, next_attempt_at timestamptz, previous_status varchar,
    suppressed boolean
)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
    w record;
    q record;
    v_cid uuid;
    v_cstatus varchar;
    v_qid uuid;
    v_qtype varchar;
    v_qvalid timestamptz;
    v_qstatus varchar;
    v_today date;
    v_used integer;
    v_next timestamptz;
    v_claimed integer := 0;
    v_recorded integer := 0;
    v_base timestamptz;
BEGIN
    -- First the outcomes of the calls answered since the caller's last round (one lock order: by
    -- queue, then contact), so a message costs one statement and one commit.
    IF p_outcomes IS NOT NULL THEN
        SELECT coalesce(sum(billing_record_send(
                   x.contact_id, x.queue_id, x.instance_id, x.claim, x.now, x.status, x.attempt_inc,
                   x.next_attempt_at, x.error, x.provider_id, x.remote_jid, x.sent_at, x.message, x.rendered_on,
                   x.record_chat, x.d_sent, x.d_failed, x.d_expired, x.d_skipped, x.d_unknown, x.conversation_id,
                   x.message_id, x.late_s)), 0)
          INTO v_recorded
          FROM (SELECT * FROM jsonb_to_recordset(p_outcomes) AS r(
                    contact_id uuid, queue_id uuid, instance_id uuid, claim text, now timestamptz, status text,
                    attempt_inc integer, next_attempt_at timestamptz, error text, provider_id text,
                    remote_jid text, sent_at timestamptz, message text, rendered_on date, record_chat boolean,
                    d_sent integer, d_failed integer, d_expired integer, d_skipped integer, d_unknown integer,
                    conversation_id uuid, message_id uuid, late_s double precision)
                 ORDER BY r.queue_id, r.contact_id) AS x;
    END IF;
    FOR w IN
        SELECT i.id, i.tenant_id, i.gateway_url, i.gateway_instance, i.api_key_encrypted, i.api_version,
               i.next_send_at, i.daily_count, i.daily_count_date, i.health_state, i.health_checked_at,
               cfg.throttle_per_minute, cfg.jitter_s, cfg.daily_cap, cfg.timezone
          FROM whatsapp_instances i JOIN billing_configs cfg ON cfg.tenant_id = i.tenant_id
         WHERE (p_pacing_off OR i.next_send_at IS NULL OR i.next_send_at <= p_now)
           AND NOT (i.id = ANY (p_busy))
           -- only instances with something to send now: one whose queues hold nothing but future
           -- retries (or calls in flight) must not take the place of an instance that has work
           AND EXISTS (
                SELECT 1 FROM billing_queues bq
                 WHERE bq.instance_id = i.id AND __RUNNABLE__
                   AND EXISTS (
                        SELECT 1 FROM billing_contacts bc
                         WHERE bc.queue_id = bq.id AND bc.status IN ('pending', 'pending_retry')
                           AND (bc.status = 'pending' OR bc.next_attempt_at IS NULL OR bc.next_attempt_at <= p_now)))
         ORDER BY i.next_send_at NULLS FIRST
         LIMIT p_limit
           FOR NO KEY UPDATE OF i SKIP LOCKED
    LOOP
        IF w.health_state = 'close' AND (w.health_checked_at IS NULL OR w.health_checked_at < p_check_before) THEN
            -- A closed flag older than the check interval may be stale: check before parking anything.
            UPDATE whatsapp_instances SET health_checked_at = p_now WHERE whatsapp_instances.id = w.id;
            __INSTANCE_ROW__check|w.next_send_at__
            CONTINUE;
        END IF;
        IF w.health_state = 'close' THEN
            UPDATE billing_queues
               SET status = 'instance_down', paused_reason = 'instance_down: the gateway reported it closed',
                   resume_at = NULL, updated_at = p_now
             WHERE billing_queues.instance_id = w.id AND status IN ('pending', 'running', 'paused_business_hours');
            __INSTANCE_ROW__down|w.next_send_at__
            CONTINUE;
        END IF;
        v_today := (p_now AT TIME ZONE w.timezone)::date;
        v_used := CASE WHEN w.daily_count_date = v_today THEN w.daily_count ELSE 0 END;
        IF NOT p_pacing_off AND w.daily_cap IS NOT NULL AND v_used >= w.daily_cap THEN
            v_next := ((v_today + 1)::timestamp AT TIME ZONE w.timezone);
            UPDATE whatsapp_instances SET next_send_at = v_next WHERE whatsapp_instances.id = w.id;
            __INSTANCE_ROW__cap|v_next__
            CONTINUE;
        END IF;
        IF w.health_checked_at IS NULL OR w.health_checked_at < p_check_before THEN
            UPDATE whatsapp_instances SET health_checked_at = p_now WHERE whatsapp_instances.id = w.id;
            __INSTANCE_ROW__check|w.next_send_at__
            CONTINUE;
        END IF;
        v_cid := NULL;
        FOR q IN
            -- Locked, skipping a queue control is changing right now: a pause or cancel that committed
            -- is seen here (the row no longer qualifies), one in progress makes us pass the queue by.
            SELECT bq.id, bq.template_type, bq.valid_until, bq.status FROM billing_queues bq
             WHERE bq.instance_id = w.id AND __RUNNABLE__
             ORDER BY bq.priority DESC, bq.created_at, bq.id
               FOR NO KEY UPDATE OF bq SKIP LOCKED
        LOOP
            SELECT bc.id, bc.status INTO v_cid, v_cstatus FROM billing_contacts bc
             WHERE bc.queue_id = q.id AND bc.status IN ('pending', 'pending_retry')
               AND (bc.status = 'pending' OR bc.next_attempt_at IS NULL OR bc.next_attempt_at <= p_now)
             ORDER BY bc.position
             LIMIT 1
               FOR NO KEY UPDATE SKIP LOCKED;
            IF v_cid IS NOT NULL THEN
                v_qid := q.id; v_qtype := q.template_type; v_qvalid := q.valid_until; v_qstatus := q.status;
                EXIT;
            END IF;
        END LOOP;
        CONTINUE WHEN v_cid IS NULL;
        IF v_qstatus <> 'running' THEN
            UPDATE billing_queues
               SET status = 'running', published_at = COALESCE(published_at, p_now), started_at = COALESCE(started_at, p_now), resume_at = NULL,
                   paused_reason = NULL, updated_at = p_now
             WHERE billing_queues.id = v_qid AND status = v_qstatus;
        END IF;
        IF p_pacing_off THEN
            v_next := w.next_send_at;
        ELSE
            -- The gap counts from now as the database sees it when the caller's clock is the real one (a
            -- caller delayed between reading its clock and this statement must not shorten the gap);
            -- a test's fake clock, far from the real time, is taken as is.
            v_base := clock_timestamp();
            IF v_base NOT BETWEEN p_now - interval '60 seconds' AND p_now + interval '60 seconds' OR v_base < p_now THEN
                v_base := p_now;
            END IF;
            -- The pace, a guard of 5 % of it (at most 0.1 s) for a request that reaches the gateway a
            -- little after its slot (domain.pacing.SLOT_GUARD_*), and the jitter.
            v_next := v_base + make_interval(secs => 60.0 / w.throttle_per_minute
                                             + least(0.05 * 60.0 / w.throttle_per_minute, 0.1)
                                             + random() * w.jitter_s);
            UPDATE whatsapp_instances SET next_send_at = v_next, daily_count = v_used + 1, daily_count_date = v_today
             WHERE whatsapp_instances.id = w.id;
        END IF;
        RETURN QUERY
        UPDATE billing_contacts bc SET status = 'sending', claimed_by = p_claim, updated_at = p_now
         WHERE bc.id = v_cid
        RETURNING 'send'::text, w.id, w.gateway_url, w.gateway_instance, w.api_key_encrypted, w.api_version,
               w.next_send_at, v_next, v_qid, v_qtype, v_qvalid,
               bc.id, bc.tenant_id, bc.phone::varchar, bc.name::varchar, bc.due_date, bc.amount::numeric,
               bc.invoice_id::varchar, bc.payment_link::varchar, bc.pix_code::varchar, bc.variables,
               bc.variation_id, bc.message, bc.rendered_on, bc.attempts, bc.next_attempt_at,
               v_cstatus,
               EXISTS (SELECT 1 FROM suppressions s WHERE s.tenant_id = bc.tenant_id AND s.phone = bc.phone);
        v_claimed := v_claimed + 1;
    END LOOP;
    IF v_claimed = 0 OR p_outcomes IS NOT NULL THEN
      v_next := NULL;
      IF v_claimed = 0 THEN
        -- Nothing claimed: say when the next slot (or retry) with work behind it comes due, so the
        -- caller sleeps until then (with claims made, it comes back when their calls are answered). Due-but-unclaimable instances (in flight, locked by another
        -- replica) are left out, so a caller never spins on them.
        SELECT LEAST(
            (SELECT min(i.next_send_at) FROM whatsapp_instances i
              WHERE i.next_send_at > p_now AND i.health_state IS DISTINCT FROM 'close'
                AND EXISTS (SELECT 1 FROM billing_queues bq
                             WHERE bq.instance_id = i.id AND bq.status IN ('pending', 'running')
                               AND (bq.resume_at IS NULL OR bq.resume_at <= p_now))),
            -- a queue paused outside business hours resumes by itself at its next opening
            (SELECT min(bq.resume_at) FROM billing_queues bq
              WHERE bq.status = 'paused_business_hours' AND bq.resume_at > p_now),
            (SELECT min(bc.next_attempt_at) FROM billing_contacts bc
              WHERE bc.status = 'pending_retry' AND bc.next_attempt_at > p_now
                AND EXISTS (SELECT 1 FROM billing_queues bq
                             WHERE bq.id = bc.queue_id AND bq.status IN ('pending', 'running'))))
          INTO v_next;
      END IF;
        -- The last row: kind 'next', the next due instant (NULL unless nothing was claimed) and, in
        -- ``attempts``, how many outcomes were still ours to record.
        RETURN QUERY SELECT 'next'::text, NULL::uuid, NULL::varchar, NULL::varchar, NULL::text, NULL::varchar,
               NULL::timestamptz, v_next, NULL::uuid, NULL::varchar,
               NULL::timestamptz, NULL::uuid, NULL::uuid, NULL::varchar, NULL::varchar, NULL::date,
               NULL::numeric, NULL::varchar, NULL::varchar, NULL::varchar, NULL::jsonb, NULL::uuid,
               NULL::text, NULL::date, v_recorded, NULL::timestamptz, NULL::varchar, NULL::boolean;
    END IF;
END
$$
"""

# One outcome: the contact (guarded by the claim token), the queue counters, the chat history for a sent
# message, then, in a statement of its own (so it sees outcomes committed while it waited for the queue
# row), the queue's completion when nothing is left open. Returns 1 when recorded, 0 when the claim was
# no longer ours (the sweeper reported it unknown, or control cancelled it).
RECORD_SEND = """
CREATE OR REPLACE FUNCTION billing_record_send(
    p_contact_id uuid, p_queue_id uuid, p_instance_id uuid, p_claim text, p_now timestamptz, p_status text,
    p_attempt_inc integer, p_next_attempt_at timestamptz, p_error text, p_provider_id text, p_remote_jid text,
    p_sent_at timestamptz, p_message text, p_rendered_on date, p_record_chat boolean, p_d_sent integer,
    p_d_failed integer, p_d_expired integer, p_d_skipped integer, p_d_unknown integer,
    p_conversation_id uuid, p_message_id uuid, p_late_s double precision
)
RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    recorded integer;
BEGIN
    -- The call started p_late_s after the claim (a busy worker): the instance's next slot moves as
    -- much, so the gap the gateway sees is never shorter than the pace.
    -- Never waits: an instance locked by a claim in progress is having its slot taken right now.
    IF p_late_s > 0.01 THEN
        UPDATE whatsapp_instances SET next_send_at = next_send_at + make_interval(secs => p_late_s)
         WHERE id = (SELECT wi.id FROM whatsapp_instances wi
                      WHERE wi.id = p_instance_id AND wi.next_send_at > p_now FOR NO KEY UPDATE SKIP LOCKED);
    END IF;
    WITH c AS (
        UPDATE billing_contacts
           SET status = p_status, attempts = attempts + p_attempt_inc, next_attempt_at = p_next_attempt_at,
               last_error = COALESCE(p_error, last_error),
               provider_message_id = COALESCE(p_provider_id, provider_message_id),
               remote_jid = COALESCE(p_remote_jid, remote_jid), sent_at = COALESCE(p_sent_at, sent_at),
               message = p_message, rendered_on = p_rendered_on, claimed_by = NULL, updated_at = p_now
         WHERE id = p_contact_id AND status = 'sending' AND claimed_by = p_claim
     RETURNING id, tenant_id, phone
    ), q AS (
        UPDATE billing_queues
           SET sent = sent + p_d_sent, failed = failed + p_d_failed, expired = expired + p_d_expired,
               skipped = skipped + p_d_skipped, unknown = unknown + p_d_unknown, updated_at = p_now
         WHERE id = p_queue_id AND EXISTS (SELECT 1 FROM c)
     RETURNING id
    ), conv AS (
        INSERT INTO conversations (id, tenant_id, instance_id, phone, is_open, closed_at, last_message_at,
                                   created_at)
        SELECT p_conversation_id, c.tenant_id, p_instance_id, c.phone, false, p_now, p_now, p_now
          FROM c WHERE p_record_chat
        ON CONFLICT (tenant_id, instance_id, phone)
        DO UPDATE SET is_open = false, closed_at = EXCLUDED.closed_at, last_message_at = EXCLUDED.last_message_at
        RETURNING id, tenant_id
    ), msg AS (
        INSERT INTO messages (id, tenant_id, conversation_id, contact_id, direction, body, provider_message_id,
                              status, created_at)
        SELECT p_message_id, conv.tenant_id, conv.id, p_contact_id, 'out', p_message, p_provider_id, 'sent', p_now
          FROM conv
        RETURNING id
    )
    SELECT count(*) INTO recorded FROM c;
    IF recorded > 0 AND p_status <> 'pending_retry' THEN
        PERFORM billing_complete_if_done(p_queue_id, p_now);
    END IF;
    RETURN recorded;
END
$$
"""

COMPLETE_IF_DONE = """
CREATE OR REPLACE FUNCTION billing_complete_if_done(p_queue_id uuid, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    done integer;
BEGIN
    UPDATE billing_queues
       SET status = 'completed', completed_at = p_now, resume_at = NULL, paused_reason = NULL, updated_at = p_now
     WHERE id = p_queue_id AND status IN ('pending', 'running')
       AND NOT EXISTS (SELECT 1 FROM billing_contacts
                        WHERE queue_id = p_queue_id AND status IN ('pending', 'pending_retry', 'sending'));
    GET DIAGNOSTICS done = ROW_COUNT;
    RETURN done;
END
$$
"""


# A queue dispatch may serve: pending or running (not parked into the future), or paused outside business
# hours whose next opening has come (it resumes by itself; the sweeper would also wake it).
RUNNABLE = (
    "(bq.status IN ('pending', 'running') AND (bq.resume_at IS NULL OR bq.resume_at <= p_now)"
    " OR bq.status = 'paused_business_hours' AND bq.resume_at <= p_now)"
)
DISPATCH = DISPATCH.replace("__RUNNABLE__", RUNNABLE)

# A row about the instance alone (kinds down, cap, check): its gateway and slot, no contact.
INSTANCE_ROW = """RETURN QUERY SELECT '{kind}'::text, w.id, w.gateway_url, w.gateway_instance, w.api_key_encrypted,
                   w.api_version, w.next_send_at, {slot}, NULL::uuid, NULL::varchar,
                   NULL::timestamptz, NULL::uuid, w.tenant_id, NULL::varchar, NULL::varchar, NULL::date,
                   NULL::numeric, NULL::varchar, NULL::varchar, NULL::varchar, NULL::jsonb, NULL::uuid,
                   NULL::text, NULL::date, NULL::integer, NULL::timestamptz, NULL::varchar, NULL::boolean;"""
for _kind, _slot in (("down", "w.next_send_at"), ("cap", "v_next"), ("check", "w.next_send_at")):
    DISPATCH = DISPATCH.replace(f"__INSTANCE_ROW__{_kind}|{_slot}__", INSTANCE_ROW.format(kind=_kind, slot=_slot))


def upgrade() -> None:
    op.execute(
        "UPDATE billing_queues SET processing_by = NULL, lease_expires_at = NULL WHERE processing_by IS NOT NULL"
    )
    # Due slots and retry times are looked up by time; claimed contacts are found by age by the sweeper.
    op.create_index("ix_instance_next_send", "whatsapp_instances", ["next_send_at"])
    op.create_index("ix_contact_sending", "billing_contacts", ["updated_at"], postgresql_where="status = 'sending'")
    op.create_index(
        "ix_contact_retry_at", "billing_contacts", ["next_attempt_at"], postgresql_where="status = 'pending_retry'"
    )
    op.create_index(
        "ix_queue_runnable",
        "billing_queues",
        ["instance_id", "priority", "created_at"],
        postgresql_where="status IN ('pending', 'running', 'paused_business_hours')",
    )
    op.execute(COMPLETE_IF_DONE)
    op.execute(DISPATCH)
    op.execute(RECORD_SEND)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS billing_record_send(uuid, uuid, uuid, text, timestamptz, text, integer, "
        "timestamptz, text, text, text, timestamptz, text, date, boolean, integer, integer, integer, integer, "
        "integer, uuid, uuid, double precision)"
    )
    op.execute(
        "DROP FUNCTION IF EXISTS billing_dispatch(timestamptz, text, integer, boolean, timestamptz, uuid[], jsonb)"
    )
    op.execute("DROP FUNCTION IF EXISTS billing_complete_if_done(uuid, timestamptz)")
    op.drop_index("ix_queue_runnable", table_name="billing_queues")
    op.drop_index("ix_contact_retry_at", table_name="billing_contacts")
    op.drop_index("ix_contact_sending", table_name="billing_contacts")
    op.drop_index("ix_instance_next_send", table_name="whatsapp_instances")
