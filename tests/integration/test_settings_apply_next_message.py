"""A change of business hours counts from the next message, even in a warm process (issue 19)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from billing.db.models import Tenant
from billing.services import admin
from support.factories import World, make_queue
from test_dispatch_by_slot import in_process


def test_hours_closed_while_a_queue_runs_stop_its_next_message(db: Any, sim: Any, sim_world: World) -> None:
    from billing.services.delivery.dispatch import dispatch

    tenant = db.get(Tenant, sim_world.tenant_id)
    today = datetime.now(ZoneInfo(sim_world.timezone)).weekday()
    # Open all day today (whatever the hour this runs at), one message a minute: the first goes now.
    admin.set_hours(tenant, session=db, weekdays=[today], start=time(0, 0), end=time(23, 59, 59))
    admin.set_config(tenant, session=db, throttle_per_minute=1, jitter_s=0)
    db.commit()
    queue_id = make_queue(db, sim_world, 3, template_type="overdue")
    deps = in_process(pacing_disabled=False)
    dispatch(deps=deps)  # sends the first, sees the next slot a minute away, returns
    assert len(sim.client.messages()) == 1
    # The operator closes today. The warm process (its tenant cache is good for a minute) must see it at
    # the very next slot, at once: the claim reads the tenant's settings_version and the copy is stale.
    admin.remove_hours(tenant, session=db, weekdays=[today])
    db.commit()
    db.execute(sa.text("UPDATE whatsapp_instances SET next_send_at = :now"), {"now": datetime.now(UTC)})
    db.commit()
    dispatch(deps=deps)
    assert len(sim.client.messages()) == 1  # nothing more went out
    status = db.execute(sa.text("SELECT status FROM billing_queues WHERE id = :q"), {"q": queue_id}).scalar_one()
    assert status in ("paused_business_hours", "running", "pending")
    pending = db.execute(
        sa.text("SELECT count(*) FROM billing_contacts WHERE queue_id = :q AND status = 'pending'"), {"q": queue_id}
    ).scalar_one()
    assert pending == 2
