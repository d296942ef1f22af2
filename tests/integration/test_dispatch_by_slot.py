"""Dispatch by pacing slot (issue 15): priority on a shared number, nothing held across a wait, exactly
once and never above the pace with several sender processes and a sweeper running together."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from billing.config import get_settings
from billing.db.models import Tenant
from billing.services import admin
from billing.services.delivery.deps import SenderDeps
from billing.services.delivery.dispatch import dispatch
from billing.services.tenants import forget_tenant
from billing.testing import FakeClock, InMemoryBroker
from support.factories import World, contacts_of, make_queue, make_world, phone_of, queue_row
from support.sim_process import simulator_process
from test_sender_processes import SenderProcess, finish_in_process, settle_stale_claims, token_for

# Monday 2026-11-30 10:00 in Sao Paulo: inside the default business hours.
MONDAY_10H = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[Any]:
    """Pace is judged by the simulator's arrival times: it runs in its own process, where this test's
    threads cannot delay its stamps."""
    with simulator_process() as handle:
        yield handle


@pytest.fixture
def world(db: Any, sim: Any, broker_prefix: str) -> World:
    w = make_world(db, gateway_url=sim.base_url)
    w.register(sim.client)
    return w


def in_process(clock: Any = None, **settings: Any) -> SenderDeps:
    broker = InMemoryBroker()
    return SenderDeps(
        settings=get_settings().model_copy(update={"pacing_disabled": True, **settings}),
        publisher=lambda: broker,
        stop_requested=lambda: False,
        **({"clock": clock} if clock is not None else {}),
    )


def wait_for(condition: Any, timeout_s: float = 30.0, every_s: float = 0.01) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(every_s)


def test_an_overdue_batch_posted_after_notifications_goes_out_before_the_rest_of_them(
    db: Any, sim: Any, world: World
) -> None:
    notifications = make_queue(db, world, 200)
    sim.client.set_latency(5)
    runner = threading.Thread(target=dispatch, kwargs={"deps": in_process(FakeClock(MONDAY_10H))})
    runner.start()
    wait_for(lambda: sim.client.send_requests() >= 20)
    overdue = make_queue(
        db, world, 5, template_type="overdue", due_date=date(2026, 11, 20), rendered_on=date(2026, 11, 30),
        first_phone=1000,
    )  # fmt: skip
    sent_at_commit = sim.client.send_requests()
    runner.join(60)

    numbers = [m["number"] for m in sim.client.messages()]
    overdue_numbers = {phone_of(1000 + i).lstrip("+") for i in range(5)}
    positions = [i for i, n in enumerate(numbers) if n in overdue_numbers]
    row = queue_row(db, overdue)
    assert len(positions) == 5, (row.status, row.paused_reason, row.resume_at, sent_at_commit, len(numbers))
    assert positions == list(range(positions[0], positions[0] + 5))  # back to back
    # Before the first overdue message only the notifications already sent, or the one call in flight.
    assert positions[0] <= sent_at_commit + 1 < 200
    assert queue_row(db, overdue).status == queue_row(db, notifications).status == "completed"
    assert len(numbers) == len(set(numbers)) == 205


def test_sigkill_while_waiting_for_a_slot_leaves_nothing_claimed_or_unknown(db: Any, sim: Any, world: World) -> None:
    tenant = admin.resolve_tenant(world.tenant_name, session=db)
    admin.set_config(tenant, session=db, throttle_per_minute=12, jitter_s=0)  # one message every 5 s
    db.commit()
    forget_tenant()
    queue_id = make_queue(db, world, 5)
    sender = SenderProcess()
    try:
        sender.post(token_for(queue_id), [])
        wait_for(lambda: len(sim.client.messages()) >= 1)
        time.sleep(1.0)  # the first call is answered and recorded; the next slot is 4 s away
        os.killpg(sender.proc.pid, signal.SIGKILL)
    finally:
        sender.stop()
    statuses = [c.status for c in contacts_of(db, queue_id)]
    assert statuses.count("sent") == 1 and statuses.count("pending") == 4  # nothing left "sending"
    assert settle_stale_claims(0.1).unknown_contacts == 0
    assert finish_in_process(queue_id) == "completed"
    received = [m["number"] for m in sim.client.messages()]
    assert len(received) == len(set(received)) == 5
    assert queue_row(db, queue_id).unknown == 0


def add_instances(db: Any, sim: Any, world: World, count: int) -> list[Any]:
    secret = get_settings().billing_secret_key.get_secret_value()
    tenant = db.get(Tenant, world.tenant_id)
    ids = [world.instance_id]
    for i in range(1, count):
        name = f"extra-{i:03d}"
        row = admin.add_instance(
            tenant, session=db, name=name, url=sim.base_url, api_key=f"tok-{name}", secret_key=secret
        )
        sim.client.add_instance(name, f"tok-{name}")
        ids.append(row.id)
    db.commit()
    return ids


def test_two_sender_processes_and_a_sweeper_send_a_thousand_contacts_on_fifty_instances_exactly_once_at_pace(
    db: Any, sim: Any, world: World
) -> None:
    from billing.services.sweep.sweeper import run_tick

    tenant = admin.resolve_tenant(world.tenant_name, session=db)
    admin.set_config(tenant, session=db, throttle_per_minute=120, jitter_s=0)  # one message every 0.5 s
    db.commit()
    forget_tenant()
    instance_ids = add_instances(db, sim, world, 50)
    queues = [
        make_queue(db, world, 20, instance_id=instance_id, first_phone=1 + i * 20)
        for i, instance_id in enumerate(instance_ids)
    ]
    sim.client.set_latency(20)
    senders = [SenderProcess(), SenderProcess()]
    stop = threading.Event()

    def sweeping() -> None:
        # A tick every 2 s (the real one is every minute): often enough to race the senders.
        while not stop.is_set():
            run_tick(publisher=InMemoryBroker())
            stop.wait(2.0)

    sweeper = threading.Thread(target=sweeping)
    sweeper.start()
    results: list[Any] = []
    try:
        calls = [s.post(token_for(q), results) for s in senders for q in queues[:3]]
        wait_for(lambda: sim.client.send_requests() >= 1000, timeout_s=120, every_s=0.25)
        for call in calls:
            call.join(60)
    finally:
        stop.set()
        sweeper.join(30)
        for sender in senders:
            sender.stop()
    assert results == [200] * 6
    time.sleep(0.3)
    messages = sim.client.messages()
    assert len(messages) == 1000 and len({m["number"] for m in messages}) == 1000  # exactly once
    by_instance: dict[str, list[float]] = {}
    for message in messages:
        by_instance.setdefault(message["instance"], []).append(message["arrived_wall"])
    assert len(by_instance) == 50
    gaps = [b - a for arrivals in by_instance.values() for a, b in itertools.pairwise(sorted(arrivals))]
    assert min(gaps) >= 0.5 * 0.95, min(gaps)  # no instance above 120 a minute, across both processes
    done = db.execute(sa.text("SELECT count(*) FROM billing_queues WHERE status = 'completed' AND sent = 20"))
    assert done.scalar() == 50


def test_outcomes_survive_a_database_outage_mid_queue_and_nothing_is_reported_unknown(
    db: Any, sim: Any, world: World
) -> None:
    queue_id = make_queue(db, world, 40)
    sim.client.set_latency(30)
    results: list[Any] = []
    runner = threading.Thread(target=lambda: results.append(dispatch(deps=in_process())))
    runner.start()
    wait_for(lambda: sim.client.send_requests() >= 10)
    # For a second, every other connection to the database is cut as it appears: what a restart does
    # to a sender whose call is in flight.
    cut = 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        cut += db.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
        db.commit()
        time.sleep(0.05)
    runner.join(120)
    assert cut > 0 and results and results[0].sent == 40
    contacts = contacts_of(db, queue_id)
    assert [c.status for c in contacts] == ["sent"] * 40  # delivered means recorded: none unknown
    assert all(c.provider_message_id for c in contacts)  # so the gateway's receipts attach
    received = [m["number"] for m in sim.client.messages()]
    assert len(received) == len(set(received)) == 40
    assert queue_row(db, queue_id).status == "completed"


def paced_healthy(db: Any, world: World, contacts: int) -> Any:
    """A queue of ``contacts`` on the world's instance, paced at 60 a minute without jitter (a step of
    1.05 s), the instance healthy as of MONDAY_10H; returns the queue id."""
    tenant = admin.resolve_tenant(world.tenant_name, session=db)
    admin.set_config(tenant, session=db, throttle_per_minute=60, jitter_s=0)
    db.commit()
    forget_tenant()
    queue_id = make_queue(db, world, contacts)
    healthy = sa.text("UPDATE whatsapp_instances SET health_state = 'open', health_checked_at = :t")
    db.execute(healthy, {"t": MONDAY_10H})
    db.commit()
    return queue_id


class _StallingClock(FakeClock):
    """A worker in a busy process: every look at the clock finds it ``stall_s`` later."""

    def __init__(self, start: datetime, stall_s: float) -> None:
        super().__init__(start)
        self.stall_s = stall_s

    def now(self) -> datetime:
        self.advance(self.stall_s)
        return super().now()


def test_a_call_starting_late_first_moves_the_next_slot_by_as_much_or_is_not_made(
    db: Any, sim: Any, world: World
) -> None:
    from billing.db.dispatch import claim_slots
    from billing.db.engine import core_connection
    from billing.services.delivery.dispatch import Dispatcher

    tenant = admin.resolve_tenant(world.tenant_name, session=db)
    admin.set_config(tenant, session=db, throttle_per_minute=60, jitter_s=0)  # a step of 1.05 s
    db.commit()
    forget_tenant()
    make_queue(db, world, 5)
    clock = FakeClock(MONDAY_10H)
    dispatcher = Dispatcher(in_process(clock, pacing_disabled=False))

    def claim_one() -> Any:
        with core_connection() as conn, conn.begin():
            claims, _, _ = claim_slots(
                conn, now=clock.now(), claim="late-test", limit=1, pacing_off=False, check_before=MONDAY_10H
            )
        assert len(claims) == 1 and claims[0].contact is not None
        return claims[0]

    def next_slot() -> datetime:
        query = sa.text("SELECT next_send_at FROM whatsapp_instances WHERE id = :i")
        value = db.execute(query, {"i": world.instance_id})
        db.commit()
        return value.scalar_one()

    def moved(claim: Any) -> float:
        return float((next_slot() - claim.slot).total_seconds())

    healthy = sa.text("UPDATE whatsapp_instances SET health_state = 'open', health_checked_at = :t")
    db.execute(healthy, {"t": MONDAY_10H})
    db.commit()
    reserve = 0.15 * 1.05  # domain.pacing.SLOT_RESERVE_FRACTION of the step
    claim = claim_one()
    assert (claim.slot - MONDAY_10H).total_seconds() == pytest.approx(1.05 + reserve)
    # Starting within the reserve: no move before the call (the slot absorbs the reserve; the record
    # moves it by the call's lateness minus that, back by what was not used).
    clock.advance(0.1)
    absorbed, same = dispatcher._settle_lateness(claim)
    assert absorbed == pytest.approx(reserve) and same == claim and moved(claim) == 0.0
    # 0.3 s late: past the reserve and the 4 % tolerance, so the slot moves first by the excess.
    clock.advance(1.5)
    claim = claim_one()
    clock.advance(0.3)
    absorbed, moved_claim = dispatcher._settle_lateness(claim)
    assert moved(claim) == pytest.approx(0.3 - reserve + 0.01)  # moved before the call
    assert absorbed == pytest.approx(0.3 + 0.01) and moved_claim.slot == next_slot()
    # Each move keeps the call later still (a stalled process): moved again, the rest left to the record.
    clock.advance(1.5)
    claim = claim_one()
    stalled = Dispatcher(in_process(_StallingClock(clock.now() + timedelta(seconds=0.2), 0.02), pacing_disabled=False))
    absorbed, moved_claim = stalled._settle_lateness(claim)
    assert absorbed == pytest.approx(0.22 + 0.01)  # the call starts at 0.26 s: 0.03 s left to the record
    assert moved(claim) == pytest.approx(0.22 - reserve + 0.01) == (moved_claim.slot - claim.slot).total_seconds()
    # A process that keeps stalling: every move must find the slot where the previous one put it; after
    # three moves the call is given up (its claim carries the moved slot, so a give-back can restore it).
    clock.advance(1.5)
    claim = claim_one()
    stuck = Dispatcher(in_process(_StallingClock(clock.now() + timedelta(seconds=0.2), 0.1), pacing_disabled=False))
    absorbed, moved_claim = stuck._settle_lateness(claim)
    assert absorbed is None
    assert moved(claim) == pytest.approx((0.3 - reserve + 0.01) + 0.1 + 0.1)
    assert moved_claim.slot == next_slot()
    # The next slot was taken meanwhile (another replica claimed it): the late call is not made.
    clock.advance(2.0)
    claim = claim_one()
    db.execute(sa.text("UPDATE whatsapp_instances SET next_send_at = next_send_at + interval '1 second'"))
    db.commit()
    clock.advance(0.3)
    assert dispatcher._settle_lateness(claim)[0] is None


def test_the_record_gives_back_the_reserve_a_call_did_not_use_only_while_the_slot_is_still_its_own(
    db: Any, sim: Any, world: World
) -> None:
    """A claim takes its slot a reserve further out than the step (migration 0026); the outcome's record
    moves it back to one step after the call started (or later, after a slow call), so the steady pace is
    the step. Once another claim has taken that slot (or anything moved it), the record leaves it alone:
    moving it back then would put two later messages closer than the pace."""
    from billing.db import dispatch as sql
    from billing.db.engine import core_connection

    paced_healthy(db, world, 4)  # a step of 1.05 s

    def claim_at(now: datetime) -> Any:
        with core_connection() as conn, conn.begin():
            claims, _, _ = sql.claim_slots(
                conn,
                now=now,
                claim=f"reserve-{now.timestamp()}",
                limit=1,
                pacing_off=False,
                check_before=now - timedelta(seconds=30),
            )
        assert len(claims) == 1 and claims[0].contact is not None
        return claims[0]

    def record(claim: Any, now: datetime, move_s: float) -> int:
        outcome = {
            "contact_id": claim.contact.id, "queue_id": claim.queue_id, "instance_id": claim.instance.id,
            "claim": claim.claim, "now": now, "status": "sent", "attempt_inc": 1, "next_attempt_at": None,
            "error": None, "provider_id": f"p-{claim.contact.id}", "remote_jid": None, "sent_at": now,
            "message": claim.contact.message, "rendered_on": claim.contact.rendered_on, "record_chat": True,
            "d_sent": 1, "d_failed": 0, "d_expired": 0, "d_skipped": 0, "d_unknown": 0,
            "slot_move_s": move_s, "slot": claim.slot,
        }  # fmt: skip
        with core_connection() as conn, conn.begin():
            return sql.record_outcomes(conn, [outcome])

    def next_slot() -> datetime:
        query = sa.text("SELECT next_send_at FROM whatsapp_instances WHERE id = :i")
        value = db.execute(query, {"i": world.instance_id})
        db.commit()
        return value.scalar_one()

    reserve = 0.15 * 1.05
    first = claim_at(MONDAY_10H)
    # The call started 0.05 s after the claim: the slot comes back to 1.05 s after that start.
    assert record(first, MONDAY_10H + timedelta(seconds=0.2), 0.05 - reserve) == 1
    assert (next_slot() - MONDAY_10H).total_seconds() == pytest.approx(1.05 + 0.05)
    # The next claim's record comes back after its slot was moved (another replica's move, a claim): no
    # move back.
    second = claim_at(MONDAY_10H + timedelta(seconds=2))
    db.execute(sa.text("UPDATE whatsapp_instances SET next_send_at = next_send_at + interval '1 second'"))
    db.commit()
    taken = next_slot()
    assert record(second, MONDAY_10H + timedelta(seconds=2.2), -reserve) == 1
    assert next_slot() == taken == second.slot + timedelta(seconds=1)
    # A sender of the previous release, still running while this one rolls out, records with its 23
    # arguments (no slot): recorded, the slot left where it is.
    third = claim_at(taken + timedelta(seconds=0.1))
    previous = sa.text(
        "SELECT billing_record_send(:c, :q, :i, :claim, :now, 'sent', 1, NULL, NULL, 'p-old', NULL, :now, :m,"
        " CAST(:day AS date), true, 1, 0, 0, 0, 0, gen_random_uuid(), gen_random_uuid(), 0.5)"
    )
    params = {
        "c": third.contact.id, "q": third.queue_id, "i": third.instance.id, "claim": third.claim,
        "now": taken + timedelta(seconds=0.3), "m": third.contact.message, "day": third.contact.rendered_on,
    }  # fmt: skip
    assert db.execute(previous, params).scalar_one() == 1
    db.commit()
    assert next_slot() == third.slot
    # A slow call (answered after its slot came due, nobody has claimed since): its record still moves
    # the slot, to a pace after the answer.
    fourth = claim_at(third.slot + timedelta(seconds=0.1))
    assert record(fourth, fourth.slot + timedelta(seconds=0.5), 0.7) == 1
    assert next_slot() == fourth.slot + timedelta(seconds=0.7)


def test_a_call_that_began_and_crashed_keeps_its_slot_and_is_reported_unknown(db: Any, sim: Any, world: World) -> None:
    """The message may have reached the gateway: its slot is spent (not given back, not moved back), and
    the contact is ``unknown``, never resent."""
    from billing.services.delivery.dispatch import Dispatcher

    queue_id = paced_healthy(db, world, 1)

    class Crashing:
        def __init__(self, instance: Any, settings: Any) -> None:
            pass

        def send_text(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("the worker died mid-call")

    clock = FakeClock(MONDAY_10H)
    deps = in_process(clock, pacing_disabled=False)
    deps.gateway = Crashing
    assert Dispatcher(deps).run().processed == 1
    contact = contacts_of(db, queue_id)[0]
    assert contact.status == "unknown" and contact.last_error == "the sender failed mid-call"
    slot = db.execute(sa.text("SELECT next_send_at FROM whatsapp_instances WHERE id = :i"), {"i": world.instance_id})
    assert (slot.scalar_one() - MONDAY_10H).total_seconds() == pytest.approx(1.05 + 0.15 * 1.05)


def test_after_a_slow_call_the_next_slot_is_a_pace_after_the_gateway_answered(db: Any, sim: Any, world: World) -> None:
    """The gateway saw the message at the latest when it answered: a call slower than the slot's guard
    moves the next slot to at least a pace after the answer (a request held up on its way in a busy
    process must not crowd the next one)."""
    from billing.services.delivery.dispatch import Dispatcher
    from billing.testing import FakeGateway

    paced_healthy(db, world, 1)  # pace 1 s, guard 0.05 s

    class Slow(FakeGateway):
        def send_text(self, *args: Any, **kwargs: Any) -> Any:
            time.sleep(0.4)
            return super().send_text(*args, **kwargs)

    clock = FakeClock(MONDAY_10H)  # the call starts on its claim: no lateness, only the call's time
    deps = in_process(clock, pacing_disabled=False)
    deps.gateway = lambda instance, settings: Slow()
    assert Dispatcher(deps).run().sent == 1
    slot = db.execute(sa.text("SELECT next_send_at FROM whatsapp_instances WHERE id = :i"), {"i": world.instance_id})
    # One step (1.05 s) after the start, then the 0.4 s call less the guard it covers.
    moved = (slot.scalar_one() - MONDAY_10H).total_seconds()
    assert 1.05 + 0.4 - 0.05 <= moved < 1.05 + 0.4 - 0.05 + 0.2


def test_every_sent_message_logs_its_tenant_queue_campaign_type_contact_and_instance_and_never_the_phone(
    db: Any, sim: Any, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    queue_id = make_queue(db, world, 2, template_type="notification")
    with caplog.at_level(logging.INFO, logger="billing.services.delivery.dispatch"):
        assert finish_in_process(queue_id) == "completed"
    sent = [r for r in caplog.records if getattr(r, "action", None) == "sender.sent"]
    assert len(sent) == 2
    campaign_id = db.execute(sa.text("SELECT campaign_id FROM billing_queues WHERE id = :q"), {"q": queue_id}).scalar()
    for record in sent:
        assert campaign_id is not None and record.campaign_id == str(campaign_id)  # type: ignore[attr-defined]
        assert record.tenant_id == str(world.tenant_id) and record.queue_id == str(queue_id)  # type: ignore[attr-defined]
        assert record.template_type == "notification" and record.instance_id == str(world.instance_id)  # type: ignore[attr-defined]
        assert record.contact_id and phone_of(1)[4:] not in f"{vars(record)}"
