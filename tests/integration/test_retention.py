"""Retention (LGPD minimisation): the sweeper purges what is older than each tenant's retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from support.factories import make_queue, make_world


def count(db: Any, sql: str, **params: Any) -> int:
    return int(db.execute(sa.text(sql), params).scalar_one())


def test_only_data_past_its_tenants_retention_is_purged_and_queue_counters_stay(db: Any) -> None:
    from billing.services import admin
    from billing.services.sweep import upkeep

    now = datetime.now(UTC)
    short = make_world(db, name="curta", gateway_url="http://127.0.0.1:9", retention_days=7)
    long = make_world(db, name="longa", gateway_url="http://127.0.0.1:9")  # the default, 180 days
    old_done = make_queue(db, short, 3, status="completed")
    recent_done = make_queue(db, short, 2, status="completed")
    old_pending = make_queue(db, short, 2, status="pending")
    other_tenant = make_queue(db, long, 2, status="completed")
    ten_days_ago = now - timedelta(days=10)
    db.execute(
        sa.text("UPDATE billing_queues SET completed_at = :at, sent = total WHERE id = ANY(:ids)"),
        {"at": ten_days_ago, "ids": [old_done, other_tenant]},
    )
    db.execute(sa.text("UPDATE billing_queues SET completed_at = :at WHERE id = :id"), {"at": now, "id": recent_done})
    db.execute(
        sa.text("UPDATE billing_queues SET created_at = :at WHERE id = :id"), {"at": ten_days_ago, "id": old_pending}
    )
    for world, when in ((short, ten_days_ago), (short, now), (long, ten_days_ago)):
        db.execute(
            sa.text(
                "INSERT INTO audit_entries (id, tenant_id, action, created_at) "
                "VALUES (gen_random_uuid(), :t, 'queue.pause', :at)"
            ),
            {"t": world.tenant_id, "at": when},
        )
        conversation = db.execute(
            sa.text(
                "INSERT INTO conversations (id, tenant_id, instance_id, phone, is_open, last_message_at, created_at) "
                "VALUES (gen_random_uuid(), :t, :i, :p, true, :at, :at) RETURNING id"
            ),
            {
                "t": world.tenant_id,
                "i": world.instance_id,
                "p": f"+55119{int(when.timestamp()) % 10**8:08d}",
                "at": when,
            },
        ).scalar_one()
        db.execute(
            sa.text(
                "INSERT INTO messages (id, tenant_id, conversation_id, direction, body, status, created_at) "
                "VALUES (gen_random_uuid(), :t, :c, 'in', 'Já paguei', 'received', :at)"
            ),
            {"t": world.tenant_id, "c": conversation, "at": when},
        )
    db.commit()

    deleted = upkeep.purge_retained(session=db, now=now, batch=100)
    db.commit()

    assert deleted == 3 + 1 + 1 + 1  # old contacts, the old message, its conversation, the old audit entry
    left = {
        q: count(db, "SELECT count(*) FROM billing_contacts WHERE queue_id = :q", q=q)
        for q in (old_done, recent_done, old_pending, other_tenant)
    }
    assert left == {old_done: 0, recent_done: 2, old_pending: 2, other_tenant: 2}
    assert count(db, "SELECT sent FROM billing_queues WHERE id = :q", q=old_done) == 3  # the counters stay
    assert count(db, "SELECT count(*) FROM audit_entries WHERE tenant_id = :t", t=short.tenant_id) == 1
    assert count(db, "SELECT count(*) FROM audit_entries WHERE tenant_id = :t", t=long.tenant_id) == 1
    assert count(db, "SELECT count(*) FROM messages WHERE tenant_id = :t", t=short.tenant_id) == 1
    assert count(db, "SELECT count(*) FROM conversations WHERE tenant_id = :t", t=long.tenant_id) == 1
    assert admin.get_config(short.tenant_id, session=db).retention_days == 7


def test_a_purge_takes_one_bounded_batch_of_each_kind(db: Any) -> None:
    from billing.services.sweep import upkeep

    world = make_world(db, gateway_url="http://127.0.0.1:9", retention_days=7)
    queue = make_queue(db, world, 5, status="completed")
    db.execute(
        sa.text("UPDATE billing_queues SET completed_at = :at WHERE id = :id"),
        {"at": datetime.now(UTC) - timedelta(days=8), "id": queue},
    )
    db.commit()
    assert upkeep.purge_retained(session=db, now=datetime.now(UTC), batch=2) == 2
    assert count(db, "SELECT count(*) FROM billing_contacts WHERE queue_id = :q", q=queue) == 3


def test_events_past_retention_are_purged_but_never_the_newest_so_ids_never_repeat(db: Any) -> None:
    from billing.db.engine import get_engine
    from billing.services.events.log import sequence_pending
    from billing.services.sweep import upkeep

    world = make_world(db, gateway_url="http://127.0.0.1:9", retention_days=7)
    for i in range(3):
        db.execute(
            sa.text(
                "INSERT INTO billing_events (tenant_id, type, occurred_at, data)"
                " VALUES (:t, 'instance.down', :at, '{}')"
            ),
            {"t": world.tenant_id, "at": datetime.now(UTC) - timedelta(days=30 - i)},
        )
    db.commit()
    sequence_pending(get_engine())
    upkeep.purge_retained(session=db, now=datetime.now(UTC))
    db.commit()
    assert count(db, "SELECT count(*) FROM billing_events") == 1  # the newest stays, though as old
    last = db.execute(sa.text("SELECT max(seq) FROM billing_events")).scalar_one()
    db.execute(
        sa.text("INSERT INTO billing_events (tenant_id, type, data) VALUES (:t, 'instance.up', '{}')"),
        {"t": world.tenant_id},
    )
    db.commit()
    sequence_pending(get_engine())
    assert db.execute(sa.text("SELECT max(seq) FROM billing_events")).scalar_one() == last + 1
