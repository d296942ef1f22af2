"""A dispatch round writes its answers in one statement per kind, whatever their number: contacts given
back with their slots, and instances a health check found open (issue 15: a burst of first sends brings a
health check per instance, and a busy process gives some claims back)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from billing.db import dispatch as sql
from billing.db.engine import core_connection, get_engine
from billing.services import admin
from support.factories import World, make_queue, make_world
from support.sql import recorded_statements

NOW = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
INSTANCES = 6


def fleet(db: Any) -> tuple[World, list[str]]:
    """A tenant with ``INSTANCES`` healthy instances, all due, two pending contacts on each, paced 60/min."""
    world = make_world(db, gateway_url="http://127.0.0.1:9")
    tenant = admin.resolve_tenant(world.tenant_name, session=db)
    admin.set_config(tenant, session=db, throttle_per_minute=60, jitter_s=0)
    ids = [str(world.instance_id)]
    for n in range(1, INSTANCES):
        row = admin.add_instance(
            tenant, session=db, name=f"extra-{n}", url="http://127.0.0.1:9", api_key=f"k-{n}", secret_key="x" * 32
        )
        ids.append(str(row.id))
    db.commit()
    for n, instance_id in enumerate(ids):
        make_queue(db, world, 2, instance_id=instance_id, first_phone=1 + 2 * n)
    healthy = "UPDATE whatsapp_instances SET health_state = 'open', health_checked_at = :t, next_send_at = :due"
    db.execute(sa.text(healthy), {"t": NOW, "due": NOW - timedelta(seconds=5)})
    db.commit()
    return world, ids


def claim_all(now: datetime, name: str, busy: list[str] | None = None) -> list[sql.SlotClaim]:
    """Every due slot (but those of ``busy`` instances), paced, as a sender's claim round takes them."""
    with core_connection() as conn, conn.begin():
        claims, _, _ = sql.claim_slots(
            conn, now=now, claim=name, limit=100, pacing_off=False, check_before=now - timedelta(seconds=30), busy=busy
        )
    assert claims and all(c.kind == "send" and c.contact is not None for c in claims)
    return claims


def instances(db: Any) -> dict[str, Any]:
    rows = db.execute(sa.text("SELECT id, next_send_at, daily_count, health_state FROM whatsapp_instances"))
    result = {str(r.id): r for r in rows}
    db.commit()
    return result


def contacts(db: Any) -> dict[str, Any]:
    rows = db.execute(sa.text("SELECT id, status, claimed_by, message FROM billing_contacts"))
    result = {str(r.id): r for r in rows}
    db.commit()
    return result


def test_a_rounds_give_backs_are_two_statements_and_restore_only_untouched_slots(db: Any) -> None:
    _, ids = fleet(db)
    claims = claim_all(NOW, "round-1")
    assert len(claims) == INSTANCES
    before = instances(db)
    assert all(before[c.instance.id].next_send_at == c.slot for c in claims)
    # Another replica took one instance's next slot meanwhile: that slot is not given back.
    moved = claims[0].instance.id
    later = claims[0].slot + timedelta(seconds=1)
    db.execute(sa.text("UPDATE whatsapp_instances SET next_send_at = :t WHERE id = :i"), {"t": later, "i": moved})
    db.commit()
    kept = claims[1]
    assert kept.contact is not None
    items = [(c, True, ("re-rendered", NOW.date()) if c is kept else None) for c in claims]

    with recorded_statements(get_engine()) as statements, core_connection() as conn, conn.begin():
        sql.give_back_many(conn, items, now=NOW)
    assert len(statements) == 2  # the contacts, then the slots: not one or two per claim

    after, rows = instances(db), contacts(db)
    for claim in claims:
        assert claim.contact is not None
        row = rows[claim.contact.id]
        assert row.status == "pending" and row.claimed_by is None
        if claim.instance.id == moved:
            assert after[moved].next_send_at == later and after[moved].daily_count == 1
        else:
            assert after[claim.instance.id].next_send_at == claim.previous_slot
            assert after[claim.instance.id].daily_count == 0
    assert rows[kept.contact.id].message == "re-rendered"
    # Given back, the contacts are claimable again, on the slots they had.
    again = claim_all(NOW, "round-2")
    assert {c.instance.id for c in again} == set(ids) - {moved}


def test_a_claim_no_longer_ours_is_not_given_back(db: Any) -> None:
    fleet(db)
    claims = claim_all(NOW, "round-1")
    lost = claims[0]
    assert lost.contact is not None
    db.execute(
        sa.text("UPDATE billing_contacts SET status = 'unknown', claimed_by = NULL WHERE id = :c"),
        {"c": lost.contact.id},
    )
    db.commit()
    with core_connection() as conn, conn.begin():
        sql.give_back_many(conn, [(c, False, None) for c in claims], now=NOW)
    rows = contacts(db)
    assert rows[lost.contact.id].status == "unknown"
    assert sum(1 for c in claims[1:] if c.contact and rows[c.contact.id].status == "pending") == len(claims) - 1


def test_two_give_backs_of_one_instance_in_a_round_restore_in_order(db: Any) -> None:
    world, _ = fleet(db)
    only = str(world.instance_id)
    busy_others = [i for i in instances(db) if i != only]
    first = claim_all(NOW, "a", busy=busy_others)
    later = NOW + timedelta(seconds=2)  # the first slot has come: the instance's second contact is claimed
    second = claim_all(later, "b", busy=busy_others)
    assert len(first) == len(second) == 1 and first[0].instance.id == second[0].instance.id == only
    assert second[0].previous_slot == first[0].slot
    with core_connection() as conn, conn.begin():
        sql.give_back_many(conn, [(first[0], True, None), (second[0], True, None)], now=later)
    # In order: the first restore finds its slot already taken by the second claim and leaves it; the
    # second gives back its own, which is the slot the first claim set.
    assert instances(db)[only].next_send_at == first[0].slot
    assert {r.status for r in contacts(db).values()} == {"pending"}


def test_health_checks_found_open_are_one_statement_and_never_undo_a_newer_word(db: Any) -> None:
    _, ids = fleet(db)
    db.execute(sa.text("UPDATE whatsapp_instances SET health_state = 'close', health_checked_at = :t"), {"t": NOW})
    # After its check was claimed, the webhook reported the fourth instance closed again.
    db.execute(
        sa.text("UPDATE whatsapp_instances SET health_checked_at = :t WHERE id = :i"),
        {"t": NOW + timedelta(seconds=1), "i": ids[3]},
    )
    db.commit()
    checks = [(i, NOW) for i in ids[:4]] + [(ids[0], NOW)]
    with recorded_statements(get_engine()) as statements, core_connection() as conn, conn.begin():
        sql.instances_open(conn, checks=checks, now=NOW + timedelta(seconds=2))
        sql.instances_open(conn, checks=[], now=NOW)
    assert len(statements) == 1
    states = {i: r.health_state for i, r in instances(db).items()}
    assert [states[i] for i in ids] == ["open"] * 3 + ["close"] * (INSTANCES - 3)


def test_a_round_with_an_instance_found_both_open_and_down_leaves_it_down(db: Any) -> None:
    from billing.services.delivery.deps import SenderDeps
    from billing.services.delivery.dispatch import Dispatcher, _Round
    from billing.testing import InMemoryBroker

    _, ids = fleet(db)
    db.execute(sa.text("UPDATE whatsapp_instances SET health_state = 'close', health_checked_at = :t"), {"t": NOW})
    db.commit()
    broker = InMemoryBroker()
    dispatcher = Dispatcher(SenderDeps(publisher=lambda: broker, stop_requested=lambda: False))
    pending = _Round(down=[(ids[1], "instance close", "close")], open=[(ids[1], NOW), (ids[2], NOW)])
    with core_connection() as conn, conn.begin():
        dispatcher._write(conn, pending, NOW + timedelta(seconds=1), with_outcomes=False)
    states = {i: r.health_state for i, r in instances(db).items()}
    assert (states[ids[1]], states[ids[2]], states[ids[3]]) == ("close", "open", "close")


def test_a_dispatch_loads_the_gateway_client_before_it_claims_anything(db: Any) -> None:
    from billing.services.delivery.deps import SenderDeps
    from billing.services.delivery.dispatch import Dispatcher
    from billing.testing import InMemoryBroker

    fleet(db)
    broker = InMemoryBroker()
    order: list[str] = []
    real_claim = sql.claim_slots

    def claim(*args: Any, **kwargs: Any) -> Any:
        order.append("claim")
        return real_claim(*args, **kwargs)

    # Stops once it has claimed (the claimed calls go to an unreachable gateway and fail at once).
    deps = SenderDeps(publisher=lambda: broker, stop_requested=lambda: "claim" in order)
    deps.warm = lambda: order.append("warm")
    original, sql.claim_slots = sql.claim_slots, claim
    try:
        Dispatcher(deps).run()
    finally:
        sql.claim_slots = original
    assert order[:2] == ["warm", "claim"] and order.count("warm") == 1
