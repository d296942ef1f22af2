"""The event log (migration 0019): every change that matters leaves an event in its own transaction,
and public ids follow commit order, so a reader resuming after an id never misses one."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from billing.contract.queues import Actor, ControlAction, ControlCommand
from billing.db.engine import get_engine, unit_of_work
from billing.services.events.log import EventQuery, read, sequence_pending
from billing.services.inbound.suppression import suppress
from billing.services.queues.control import control_queue
from billing.testing import InMemoryBroker
from support.factories import World, make_queue, make_world, phone_of
from test_sender_processes import finish_in_process


@pytest.fixture
def world(sim_world: World) -> World:
    """The conftest's tenant on this test's simulator, under the name these tests use."""
    return sim_world


def events_of(tenant_id: uuid.UUID, *, queue_id: uuid.UUID | None = None, after: int = 0) -> list[Any]:
    sequence_pending(get_engine())
    with get_engine().connect() as conn:
        return read(EventQuery(tenant_id=tenant_id, queue_id=queue_id, after=after), conn=conn, limit=10_000)


def test_a_completed_queue_leaves_started_one_sent_per_contact_and_completed_in_order(db: Any, world: World) -> None:
    queue_id = make_queue(db, world, 5)
    assert finish_in_process(queue_id) == "completed"
    events = events_of(world.tenant_id, queue_id=queue_id)
    types = [e.type for e in events]
    assert types[0] == "queue.started" and types[-1] == "queue.completed"
    sent = [e for e in events if e.type == "contact.sent"]
    assert sorted(e.data["index"] for e in sent) == [0, 1, 2, 3, 4]
    assert {e.data["phone"] for e in sent} == {phone_of(i) for i in range(1, 6)}
    assert all(e.data["queue_id"] == str(queue_id) and e.data["provider_message_id"] for e in sent)
    external_id = db.execute(
        sa.text(
            "SELECT c.external_id FROM billing_campaigns c JOIN billing_queues q ON q.campaign_id = c.id"
            " WHERE q.id = :q"
        ),
        {"q": queue_id},
    ).scalar_one()
    assert {e.data["external_id"] for e in events} == {external_id}
    assert [e.id for e in events] == sorted(e.id for e in events) and len({e.id for e in events}) == len(events)
    # Reading after any id gives exactly the rest.
    middle = events[2].id
    assert [e.id for e in events_of(world.tenant_id, queue_id=queue_id, after=middle)] == [e.id for e in events[3:]]


def test_pause_resume_and_cancel_are_events_with_their_reason_and_a_bulk_cancel_is_one_event_per_contact(
    db: Any, world: World
) -> None:
    from datetime import UTC, datetime

    queue_id = make_queue(db, world, 300, status="running")
    actions: tuple[ControlAction, ...] = ("pause", "resume", "cancel")
    for action in actions:
        with unit_of_work() as uow:
            control_queue(
                queue_id,
                ControlCommand(action),
                actor=Actor(world.tenant_id, operator="test"),
                uow=uow,
                publisher=InMemoryBroker(),
                now=datetime.now(UTC),
            )
    events = events_of(world.tenant_id, queue_id=queue_id)
    queue_events = [(e.type, e.data.get("reason")) for e in events if e.type.startswith("queue.")]
    assert queue_events == [("queue.paused", "operator"), ("queue.resumed", None), ("queue.cancelled", None)]
    cancelled = [e for e in events if e.type == "contact.cancelled"]
    assert sorted(e.data["index"] for e in cancelled) == list(range(300))


def test_an_event_committed_late_gets_an_id_above_every_id_already_read(db: Any, world: World) -> None:
    """T1 writes its event first (a lower insertion id) but commits after T2's event was numbered and
    read: a reader resuming after T2's id must still get T1's."""
    first = make_queue(db, world, 1, status="running")
    second = make_queue(db, world, 1, status="running", first_phone=50)
    engine = get_engine()
    slow = engine.connect()
    tx = slow.begin()
    slow.execute(sa.text("UPDATE billing_queues SET status = 'paused' WHERE id = :q"), {"q": first})
    with engine.begin() as fast:
        fast.execute(sa.text("UPDATE billing_queues SET status = 'paused' WHERE id = :q"), {"q": second})
    seen = events_of(world.tenant_id)
    assert [e.data["queue_id"] for e in seen] == [str(second)]
    tx.commit()
    slow.close()
    later = events_of(world.tenant_id, after=seen[-1].id)
    assert [e.data["queue_id"] for e in later] == [str(first)]
    assert later[0].id > seen[-1].id


def test_concurrent_sequencers_never_give_one_id_twice_or_skip_an_event(db: Any, world: World) -> None:
    queues = [make_queue(db, world, 1, status="running", first_phone=100 + i) for i in range(40)]
    engine = get_engine()
    errors: list[BaseException] = []

    def writer(chunk: list[uuid.UUID]) -> None:
        try:
            for q in chunk:
                with engine.begin() as conn:
                    conn.execute(sa.text("UPDATE billing_queues SET status = 'paused' WHERE id = :q"), {"q": q})
                sequence_pending(engine)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(queues[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    events = events_of(world.tenant_id)
    assert sorted(e.data["queue_id"] for e in events) == sorted(str(q) for q in queues)
    ids = [e.id for e in events]
    assert len(set(ids)) == len(ids) == 40 and ids == sorted(ids)


def test_an_opt_out_and_an_instance_going_down_and_up_are_events(db: Any, world: World) -> None:
    queue_id = make_queue(db, world, 1, overrides=[{"status": "sent", "provider_message_id": "P1"}])
    assert suppress(world.tenant_id, phone_of(1), session=db, reason="PARAR")
    db.execute(sa.text("UPDATE whatsapp_instances SET health_state = 'close' WHERE id = :i"), {"i": world.instance_id})
    db.execute(sa.text("UPDATE whatsapp_instances SET health_state = 'open' WHERE id = :i"), {"i": world.instance_id})
    db.commit()
    events = events_of(world.tenant_id)
    opted = [e for e in events if e.type == "contact.opted_out"]
    assert len(opted) == 1 and opted[0].data["queue_id"] == str(queue_id) and opted[0].data["index"] == 0
    assert [e.type for e in events if e.type.startswith("instance.")] == ["instance.down", "instance.up"]


def test_another_tenants_events_are_never_read(db: Any, world: World, sim: Any) -> None:
    other = make_world(db, gateway_url=sim.base_url, name="globex", gateway_token="instance-token-2")
    make_queue(db, other, 2, status="running")
    queue_id = make_queue(db, world, 2, status="running")
    db.execute(sa.text("UPDATE billing_queues SET status = 'paused'"))
    db.commit()
    mine = events_of(world.tenant_id)
    assert [e.data["queue_id"] for e in mine] == [str(queue_id)]
    assert len(events_of(other.tenant_id)) == 1


def test_the_status_body_names_the_queues_last_event_so_a_poller_can_follow_from_there(db: Any, world: World) -> None:
    from datetime import UTC, datetime

    from billing.services.queues.status import queue_status

    queue_id = make_queue(db, world, 3)
    assert queue_status(queue_id, tenant_id=world.tenant_id, session=db, now=datetime.now(UTC)).last_event_id is None
    assert finish_in_process(queue_id) == "completed"
    events = events_of(world.tenant_id, queue_id=queue_id)
    view = queue_status(queue_id, tenant_id=world.tenant_id, session=db, now=datetime.now(UTC))
    assert view.last_event_id == events[-1].id
    assert events_of(world.tenant_id, queue_id=queue_id, after=view.last_event_id) == []


def test_an_instance_back_after_a_new_key_is_up_again(db: Any, world: World) -> None:
    """auth_failed -> unknown (billing instance update --api-key) -> open: the ERP hears it is back."""
    for state in ("auth_failed", "unknown", "open"):
        db.execute(
            sa.text("UPDATE whatsapp_instances SET health_state = :s WHERE id = :i"),
            {"s": state, "i": world.instance_id},
        )
    db.commit()
    types = [(e.type, e.data["state"]) for e in events_of(world.tenant_id)]
    assert types == [("instance.down", "auth_failed"), ("instance.up", "open")]


@pytest.mark.parametrize("after", ["%C2%B2", "²", "9" * 5000, "-1", "1e3"])
def test_an_after_that_is_not_an_event_id_is_a_422(after: str) -> None:
    from billing.errors import ValidationFailedError
    from billing.services.events.log import parse_after

    with pytest.raises(ValidationFailedError):
        parse_after(after, None)
    with pytest.raises(ValidationFailedError):
        parse_after(None, after)
