from __future__ import annotations

from typing import Any

from billing.db.engine import unit_of_work
from billing.services.tenants import forget_tenant, load_tenant_runtime
from support.factories import make_world


def test_a_cached_tenant_runtime_stays_readable_after_its_session_rolled_back(db: Any) -> None:
    world = make_world(db, gateway_url="http://127.0.0.1:9", throttle_per_minute=12)
    forget_tenant()
    with unit_of_work() as uow:
        runtime = load_tenant_runtime(world.tenant_id, session=uow.session)
    # The unit of work rolled back on exit; the cached rows must still answer without a session.
    again = load_tenant_runtime(world.tenant_id, session=db)
    assert again is runtime
    assert runtime.config.throttle_per_minute == 12
    assert runtime.company == world.company
    assert runtime.hours is not None and runtime.config.timezone == world.timezone
