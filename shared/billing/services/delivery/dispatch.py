"""Dispatch by pacing slot: one invocation serves whichever instances' slots are due, across all tenants.

The coordinator (the invocation's thread) runs rounds. A round is one short transaction: record the
outcomes that came back since the last round, then claim up to ``free`` due slots (``billing_dispatch``:
instance locked with SKIP LOCKED, highest-priority contact claimed, slot advanced). Each claimed contact
goes to a worker thread that checks it is still true, re-renders it if its day changed, and calls the
gateway with no transaction open; the outcome comes back to the coordinator, which writes it in the very
next round (retried through a brief database outage, guarded by the claim token).

Nothing is claimed before its slot is due, so a claimed contact is never held across a wait: a sender
killed while waiting leaves nothing ``sending``, and one killed mid-call leaves only its in-flight calls.
When nothing is due the coordinator sleeps until the next slot it can see, and returns when that is
further than ``BILLING_MAX_INLINE_WAIT_S`` away (a token or the sweeper's tick wakes dispatch again).
"""

from __future__ import annotations

import dataclasses
import logging
import queue as queue_module
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from billing import metrics
from billing.clock import SYSTEM_CLOCK
from billing.db import dispatch as sql
from billing.domain import delivery as delivery_rules
from billing.domain import pacing
from billing.domain.gateway import HealthState, OutcomeKind
from billing.domain.states import ContactStatus, QueueStatus, TemplateType
from billing.errors import BusinessHoursError, DatabaseUnavailableError, NotFoundError
from billing.logs import mask_phone
from billing.services.delivery import shutdown
from billing.services.delivery.deps import DispatchResult, SenderDeps
from billing.services.delivery.rerender import rerender_if_stale
from billing.services.tenants import TenantRuntime, load_tenant_runtime

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from billing.domain.gateway import Gateway

logger = logging.getLogger(__name__)

# When a slot is due but could not be claimed (another replica holds it), look again this soon.
RETRY_CLAIM_S = 0.05
# After a round that claimed something (and so did not ask when the next slot is), look again at most
# this late even if no call has been answered.
LOOK_AGAIN_S = 0.25
# How long outcomes wait for the database to come back before the sweeper is left to report them.
RECORD_PATIENCE_S = 60.0
# A call may start up to its slot's reserve (domain.pacing.slot_reserve_seconds) after its claim, and
# then at most this fraction of the step more (a worker held up by a busy process), without moving the
# next slot first; if that slot is already taken, it is given back rather than sent closer to the next
# message than the pace allows.
MISSED_SLOT_FRACTION = 0.04
# ... and never more than half the slot guard (domain.pacing.SLOT_GUARD_MAX_S): lateness left for the
# record to move is covered by the guard even when the record comes back after the next slot is due.
MISSED_SLOT_MAX_S = 0.05
# A shift moves the slot this much more than the lateness measured (the time to make the move), and is
# tried this many times while the move itself keeps the call late; then the call is given back.
SHIFT_MARGIN_S = 0.01
SHIFT_ATTEMPTS = 3
# A tenant's hours and settings are looked up once per claim: this invocation's copy is used while its
# settings_version is the one the claim read (migration 0021), so a change counts from the next message;
# a claim without a version (a row of an older function) trusts a copy at most this old.
TENANT_TTL_S = 1.0
# Why an instance whose key the gateway refuses is parked (its queues' paused_reason says so).
AUTH_FAILED_REASON = (
    "auth_failed: the gateway refused this instance's API key; set it with billing instance update --api-key"
)


@dataclass
class _Sent:
    """A worker's answer for one claim: ``update`` None means the instance is down (give it back)."""

    claim: sql.SlotClaim
    update: delivery_rules.ContactUpdate | None
    message: str
    rendered_on: date
    latency_s: float | None
    why_down: str | None = None
    late_s: float = 0.0  # from the claim to the gateway call
    slot_move_s: float = 0.0  # how far the record moves the next slot (to a step after the call's start)
    started: bool = False  # the call began: the slot is spent, whatever became of the call
    missed: bool = False  # the call could not start on time: given back, slot returned if still ours
    auth_failed: bool = False  # the gateway refused the instance's API key


@dataclass
class _Health:
    claim: sql.SlotClaim
    state: HealthState


@dataclass
class _Round:
    """What the next transaction writes besides outcomes: give-backs, parks, health results."""

    outcomes: list[dict[str, Any]] = field(default_factory=list)
    give_backs: list[tuple[sql.SlotClaim, bool, tuple[str, date] | None]] = field(default_factory=list)
    slots_back: list[sql.SlotClaim] = field(default_factory=list)  # no message went out on them
    parks: list[tuple[str, QueueStatus, datetime | None, str]] = field(default_factory=list)
    down: list[tuple[str, str, str]] = field(default_factory=list)  # instance, why, health state
    open: list[tuple[str, datetime]] = field(default_factory=list)  # instance, when its check was claimed

    def __bool__(self) -> bool:
        return bool(self.outcomes or self.give_backs or self.slots_back or self.parks or self.down or self.open)


class Dispatcher:
    def __init__(self, deps: SenderDeps) -> None:
        self.deps, self.settings, self.clock = deps, deps.settings, deps.clock
        self.concurrency = self.settings.sender_concurrency
        self.claim_prefix = f"{deps.worker_id}:{uuid.uuid4().hex[:8]}"[:80]
        self.done: queue_module.SimpleQueue[_Sent | _Health] = queue_module.SimpleQueue()
        self.in_flight = 0
        self.busy: dict[str, int] = {}  # instance id -> calls in flight on it
        self.round = _Round()
        self.started = self.clock.monotonic()
        self.sent = 0
        self.processed = 0
        self.tenants: dict[str, tuple[float, TenantRuntime]] = {}
        self.gateways: dict[str, Gateway] = {}
        self.policy = delivery_rules.RetryPolicy(
            self.settings.max_attempts, self.settings.retry_base_s, self.settings.retry_max_s
        )
        self._rng_lock = threading.Lock()

    # --- the coordinator ---------------------------------------------------------------------------

    def run(self, *, keep_going: Any = None) -> DispatchResult:
        """Serve due slots until none is near (or budget, or SIGTERM); ``keep_going()`` may veto the end."""
        self.deps.warm()  # what the first calls need, loaded before any slot is claimed and waits on it
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="billing-send")
        reason = "idle"
        lingered = False
        try:
            while True:
                self._collect(block_s=0.0)
                stopping = self._stop_reason()
                free = 0 if stopping else self.concurrency - self.in_flight
                now = self.clock.now()
                claims, next_due = self._transact(now, free)
                for claim in claims:
                    self._start(claim, pool, now)
                if claims and len(claims) >= free:
                    continue  # maybe more due than there were free workers
                if claims and next_due is not None and next_due <= self.clock.now():
                    continue
                if self.in_flight == 0 and not self.round:
                    if stopping:
                        reason = stopping
                        break
                    wait = None if next_due is None else (next_due - now).total_seconds()
                    if (wait is None or wait > self.settings.max_inline_wait_s) and not (
                        keep_going is not None and keep_going()
                    ):
                        if wait is None and not claims and self.processed > 0 and not lingered:
                            # Nothing seen right after our own work: a row another writer held for a
                            # moment (a webhook closing the instance, a control) was skipped, not
                            # absent. Look once more before leaving it to the next token.
                            lingered = True
                            self._idle(None)
                            continue
                        break
                    self._idle(wait)
                    continue
                self._wait(free, next_due, now)
        finally:
            pool.shutdown(wait=True)
            self._flush_after_failure()
        return DispatchResult(reason, sent=self.sent, processed=self.processed)

    def _flush_after_failure(self) -> None:
        """Leaving on an error with calls answered but unrecorded: one more try to record them."""
        self._collect(block_s=0.0)
        if not self.round:
            return
        try:
            self._transact(self.clock.now(), 0)
        except DatabaseUnavailableError:  # pragma: no cover - the database stayed away past the patience
            logger.error(
                "outcomes left unrecorded; the sweeper will report them unknown",
                extra={"action": "sender.unrecorded", "outcomes": len(self.round.outcomes)},
            )

    def _stop_reason(self) -> str | None:
        if self.deps.stop_requested():
            return "shutdown"
        if self.clock.monotonic() - self.started >= self.settings.function_budget_s:
            return "budget"
        return None

    def _idle(self, wait: float | None) -> None:
        """Nothing in flight: sleep until the next slot (or briefly, to look again). A token arriving
        meanwhile (a new queue) cuts the sleep short; a test's fake clock just moves on."""
        seconds = RETRY_CLAIM_S if wait is None else max(min(wait, self.settings.max_inline_wait_s), 0.0)
        if self.clock is SYSTEM_CLOCK:
            if _nudge.wait(seconds):
                _nudge.clear()
        else:
            self.clock.sleep(seconds)

    def _wait(self, free: int, next_due: datetime | None, now: datetime) -> None:
        """Calls in flight: wait for one to come back, or for the next slot when a worker is free."""
        timeout = 1.0  # every worker busy: only an answer can free one
        if free > 0 and next_due is not None:
            timeout = min(timeout, max((next_due - now).total_seconds(), 0.0))
        elif free > 0 and self.in_flight == 0:
            timeout = RETRY_CLAIM_S
        elif free > 0:
            timeout = LOOK_AGAIN_S  # claims made, next slot unknown: look again soon
        self._collect(block_s=max(timeout, 0.001))

    def _collect(self, *, block_s: float) -> None:
        try:
            item = self.done.get(timeout=block_s) if block_s > 0 else self.done.get_nowait()
        except queue_module.Empty:
            return
        while True:
            self._busy(item.claim, -1)
            self._absorb(item)
            try:
                item = self.done.get_nowait()
            except queue_module.Empty:
                return

    def _transact(self, now: datetime, free: int) -> tuple[list[sql.SlotClaim], datetime | None]:
        """One short transaction: this round's records, then up to ``free`` claims (or the next due time)."""
        from billing.db.engine import core_connection

        pending, self.round = self.round, _Round()
        deadline = time.monotonic() + RECORD_PATIENCE_S
        delay = 0.2
        while True:
            try:
                with core_connection() as conn, conn.begin():
                    # One fresh instant for the round: a stale one would shorten gaps, and a health
                    # check recorded "now" must satisfy this round's claim even with a zero interval.
                    now = self.clock.now()
                    # With a claim to make, the outcomes ride on it: one statement, one commit.
                    self._write(conn, pending, now, with_outcomes=free <= 0)
                    claims: list[sql.SlotClaim] = []
                    next_due = None
                    if free > 0:
                        claims, next_due, recorded = sql.claim_slots(
                            conn,
                            now=now,
                            claim=f"{self.claim_prefix}:{uuid.uuid4().hex[:12]}",
                            limit=free,
                            pacing_off=self.settings.pacing_disabled,
                            check_before=now - timedelta(seconds=self.settings.health_check_interval_s),
                            busy=list(self.busy),
                            outcomes=pending.outcomes,
                        )
                        self._lost(len(pending.outcomes) - recorded)
                return claims, next_due
            except DatabaseUnavailableError:
                # A lost connection, a restart, a deadlock: with outcomes to write or calls in flight,
                # try again (the claim token guards a repeat); with nothing at stake, fail (503).
                at_stake = bool(pending) or self.in_flight > 0
                if not at_stake or time.monotonic() >= deadline:
                    if at_stake:
                        logger.error(
                            "database away too long; outcomes left to the sweeper",
                            extra={"action": "sender.record_gave_up", "outcomes": len(pending.outcomes)},
                        )
                    raise
                logger.warning(
                    "database unavailable; retrying the round",
                    extra={"action": "sender.record_retry", "outcomes": len(pending.outcomes)},
                )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                now = self.clock.now()

    def _write(self, conn: Connection, pending: _Round, now: datetime, *, with_outcomes: bool) -> None:
        if not pending:
            return
        if with_outcomes:
            self._lost(len(pending.outcomes) - sql.record_outcomes(conn, pending.outcomes))
        # One statement per kind, not one per item: a burst of first sends brings a health check per
        # instance, and a busy process gives some claims back.
        sql.give_back_many(conn, pending.give_backs, now=now)
        sql.return_slots(conn, pending.slots_back)
        for queue_id, status, resume_at, reason in pending.parks:
            sql.park_queue(conn, queue_id=queue_id, status=status, resume_at=resume_at, reason=reason, now=now)
        # Instance rows locked in one order (by id), as every sender locks them, before any is written.
        # Found down and open in one round: down stands. An open answer never undoes a state recorded
        # after its check was claimed (the webhook reporting the instance closed meanwhile).
        if pending.down and pending.open:
            sql.lock_instances(conn, [i for i, _, _ in pending.down] + [i for i, _ in pending.open])
        for instance_id, why, state in sorted(pending.down):
            sql.instance_down(conn, instance_id=instance_id, reason=f"instance_down: {why}", now=now, state=state)
        down = {instance_id for instance_id, _, _ in pending.down}
        sql.instances_open(conn, checks=[check for check in pending.open if check[0] not in down], now=now)

    def _lost(self, count: int) -> None:
        if count > 0:
            logger.warning(
                "outcomes no longer ours (reported unknown or cancelled meanwhile)",
                extra={"action": "sender.claim_lost", "lost": count},
            )

    # --- claims ------------------------------------------------------------------------------------

    def _start(self, claim: sql.SlotClaim, pool: ThreadPoolExecutor, now: datetime) -> None:
        instance_id = claim.instance.id
        if claim.kind == "down":
            logger.warning(
                "instance reported closed: its queues wait for recovery",
                extra={"action": "sender.instance_down", "instance_id": instance_id},
            )
            return
        if claim.kind == "cap":
            logger.info(
                "daily cap reached: the instance waits for the next day",
                extra={"action": "sender.daily_cap", "instance_id": instance_id, "next_slot": str(claim.slot)},
            )
            return
        if claim.kind == "check":
            self._busy(claim, +1)
            pool.submit(self._check, claim)
            return
        assert claim.contact is not None and claim.queue_id is not None
        try:
            tenant = self._tenant(claim.contact.tenant_id, claim.settings_version)
        except NotFoundError:  # pragma: no cover - a tenant deleted mid-queue cascades its queues away
            self.round.give_backs.append((claim, True, None))
            return
        kind = TemplateType(str(claim.template_type))
        if kind.respects_business_hours and not (tenant.hours is not None and tenant.hours.is_open(now)):
            self.round.give_backs.append((claim, True, None))
            self._park_closed(claim.queue_id, tenant, now)
            return
        self._busy(claim, +1)
        pool.submit(self._send, claim, tenant)

    def _busy(self, claim: sql.SlotClaim, delta: int) -> None:
        self.in_flight += delta
        count = self.busy.get(claim.instance.id, 0) + delta
        if count > 0:
            self.busy[claim.instance.id] = count
        else:
            self.busy.pop(claim.instance.id, None)

    def _tenant(self, tenant_id: str, version: int | None = None) -> TenantRuntime:
        """The tenant's hours, time zone and config: this invocation's copy while its settings_version is
        the claim's ``version`` (re-read, without the process cache, when it is not); with no version,
        the copy for TENANT_TTL_S, then checked against the tenant's settings_version."""
        from billing.db.engine import unit_of_work

        hit = self.tenants.get(tenant_id)
        if hit is not None:
            if version is not None and hit[1].config.settings_version == version:
                return hit[1]
            if version is None and self.clock.monotonic() - hit[0] < TENANT_TTL_S:
                return hit[1]
        with unit_of_work() as uow:
            if version is None:
                runtime = load_tenant_runtime(uuid.UUID(tenant_id), session=uow.session, fresh_s=TENANT_TTL_S)
            else:
                runtime = load_tenant_runtime(uuid.UUID(tenant_id), session=uow.session, fresh_s=0.0)
        self.tenants[tenant_id] = (self.clock.monotonic(), runtime)
        return runtime

    def _park_closed(self, queue_id: str, tenant: TenantRuntime, now: datetime) -> None:
        try:
            resume_at = tenant.require_hours().next_opening(now)
        except BusinessHoursError as exc:
            logger.warning("no business hours: %s", exc, extra={"action": "sender.no_hours", "queue_id": queue_id})
            self.round.parks.append((queue_id, QueueStatus.PAUSED_BUSINESS_HOURS, None, "no_business_hours"))
            return
        self.round.parks.append((queue_id, QueueStatus.PAUSED_BUSINESS_HOURS, resume_at, "business_hours"))
        logger.info(
            "outside business hours: queue paused",
            extra={"action": "sender.parked", "queue_id": queue_id, "resume_at": resume_at.isoformat()},
        )

    def _gateway(self, claim: sql.SlotClaim) -> Gateway:
        gateway = self.gateways.get(claim.instance.id)
        if gateway is None:
            gateway = self.gateways[claim.instance.id] = self.deps.gateway(claim.instance, self.settings)
        return gateway

    # --- worker threads ----------------------------------------------------------------------------

    def _check(self, claim: sql.SlotClaim) -> None:
        state = HealthState.UNREACHABLE
        try:
            state = self._gateway(claim).check_health()
        except Exception:  # the answer must come back whatever happened
            logger.exception("health check failed", extra={"action": "sender.health_failed"})
        finally:
            self.done.put(_Health(claim, state))

    def _send(self, claim: sql.SlotClaim, tenant: TenantRuntime) -> None:
        contact = claim.contact
        assert contact is not None
        answer = _Sent(claim, None, contact.message, contact.rendered_on, None, missed=True)
        started = [False]
        try:
            answer = self._deliver(claim, contact, tenant, started)
        except Exception:  # the claim must come back whatever happened; unknown only if the call started
            logger.exception("send failed unexpectedly", extra={"action": "sender.crashed", "contact_id": contact.id})
            if started[0]:
                update = delivery_rules.ContactUpdate(
                    ContactStatus.UNKNOWN, attempt_inc=1, error="the sender failed mid-call"
                )
                answer = _Sent(claim, update, contact.message, contact.rendered_on, None, started=True)
        finally:
            self.done.put(answer)

    def _deliver(self, claim: sql.SlotClaim, contact: Any, tenant: TenantRuntime, started: list[bool]) -> _Sent:
        now = self.clock.now()
        today = tenant.today(now)
        update = delivery_rules.no_longer_true(
            template_type=TemplateType(str(claim.template_type)),
            valid_until=claim.valid_until,
            due_date=contact.due_date,
            suppressed=contact.suppressed,
            now=now,
            today=today,
        )
        message, rendered_on = contact.message, contact.rendered_on
        if update is None and contact.rendered_on != today:
            from billing.db.engine import core_connection

            with core_connection() as conn:
                message, rendered_on, error = rerender_if_stale(conn, contact, tenant, today)
            if error is not None:
                update = delivery_rules.ContactUpdate(ContactStatus.FAILED, error=error)
        if update is not None:
            return _Sent(claim, update, message, rendered_on, None)
        gateway = self._gateway(claim)
        absorbed_s, claim = self._settle_lateness(claim)
        late_s = (self.clock.now() - claim.claimed_at).total_seconds()
        if absorbed_s is None:
            return _Sent(claim, None, message, rendered_on, None, late_s=late_s, missed=True)
        # Read just before the call: the record moves the slot to one step after this instant.
        slot_move_s = 0.0 if self.settings.pacing_disabled else late_s - absorbed_s
        began = time.monotonic()
        started[0] = True
        outcome = gateway.send_text(contact.phone, message, retry=False)
        latency = time.monotonic() - began
        if not self.settings.pacing_disabled:
            # The gateway saw the message at the latest when it answered: a call slower than the guard
            # (a request held up on its way in a busy process) moves the slot to a pace after its end.
            # The guard is the one the claim's step held only while the tenant's settings are the ones
            # it read; otherwise none is counted (the whole call's time moves the slot: the safe side).
            same = claim.settings_version is None or claim.settings_version == tenant.config.settings_version
            guard_s = pacing.slot_guard_seconds(tenant.config.throttle_per_minute) if same else 0.0
            slot_move_s += max(0.0, latency - guard_s)
        metrics.observe_send_duration(
            latency,
            tenant_id=claim.instance.tenant_id,
            template_type=str(claim.template_type),
            instance_id=claim.instance.id,
        )
        if outcome.kind is OutcomeKind.AUTH_FAILED:
            return _Sent(claim, None, message, rendered_on, latency, why_down=AUTH_FAILED_REASON, auth_failed=True)
        if outcome.kind is OutcomeKind.INSTANCE_DOWN:
            return _Sent(claim, None, message, rendered_on, latency, why_down=outcome.error or "instance down")
        if outcome.looks_like_disconnection:
            state = gateway.check_health()
            if state is HealthState.AUTH_FAILED:
                return _Sent(claim, None, message, rendered_on, latency, why_down=AUTH_FAILED_REASON, auth_failed=True)
            if state is not HealthState.OPEN:
                return _Sent(claim, None, message, rendered_on, latency, why_down=outcome.error or "instance down")
        with self._rng_lock:
            decided = delivery_rules.decide(
                outcome,
                attempts_before=contact.attempts,
                now=self.clock.now(),
                policy=self.policy,
                rng=self.deps.rng,
            )
        if decided is None:  # pragma: no cover - INSTANCE_DOWN is handled above
            return _Sent(claim, None, message, rendered_on, latency, why_down="instance down")
        return _Sent(claim, decided, message, rendered_on, latency, late_s=late_s, slot_move_s=slot_move_s)

    def _settle_lateness(self, claim: sql.SlotClaim) -> tuple[float | None, sql.SlotClaim]:
        """Before the call: a call starting within its slot's reserve (and a little more) goes at once;
        one starting later first moves the instance's next slot by the excess, as often as the move
        itself made it later (a busy process, a slow commit). Returns how much lateness the slot now
        absorbs (its reserve plus the moves: the record moves the slot by the call's lateness minus
        this, usually back), or None when the next slot is already taken and the call must not be
        made; and the claim as it now stands (its ``slot`` where the moves put it, so the record and a
        give-back find it)."""
        if self.settings.pacing_disabled or claim.slot is None:
            return 0.0, claim
        span_s = (claim.slot - claim.claimed_at).total_seconds()
        if span_s <= 0:
            return 0.0, claim
        reserve_s = pacing.slot_reserve_seconds(span_s)
        tolerance_s = min(MISSED_SLOT_FRACTION * (span_s - reserve_s), MISSED_SLOT_MAX_S)
        taken = claim.slot
        for _ in range(SHIFT_ATTEMPTS):
            assert claim.slot is not None
            moved_s = (claim.slot - taken).total_seconds()
            owed_s = (self.clock.now() - claim.claimed_at).total_seconds() - reserve_s - moved_s
            if owed_s <= tolerance_s:
                return reserve_s + moved_s, claim
            slot = self._shift(claim, owed_s + SHIFT_MARGIN_S)
            if slot is None:
                return None, claim
            claim = dataclasses.replace(claim, slot=slot)
        return None, claim

    def _shift(self, claim: sql.SlotClaim, late_s: float) -> datetime | None:
        """Move the instance's next slot (still ``claim.slot``) by ``late_s`` before calling; returns
        where it now is, or None if it is already taken."""
        from billing.db.engine import core_connection

        try:
            with core_connection() as conn, conn.begin():
                return sql.shift_slot(conn, claim, late_s=late_s)
        except DatabaseUnavailableError:
            return None

    # --- answers back in the coordinator -----------------------------------------------------------

    def _auth_failed(self, instance_id: str) -> None:
        """The gateway refused our key: the instance parks as ``auth_failed`` until someone sets the right
        key (``billing instance update --api-key``); said loudly, since nothing fixes it by itself."""
        self.round.down.append((instance_id, AUTH_FAILED_REASON, HealthState.AUTH_FAILED.value))
        metrics.record_auth_failure(instance_id)
        logger.error(
            "the gateway refused the instance's API key: its queues wait for the right key",
            extra={"action": "sender.auth_failed", "instance_id": instance_id},
        )

    def _absorb(self, item: _Sent | _Health) -> None:
        instance_id = item.claim.instance.id
        if isinstance(item, _Health):
            if item.state is HealthState.OPEN:
                self.round.open.append((instance_id, item.claim.claimed_at))
            elif item.state is HealthState.AUTH_FAILED:
                self._auth_failed(instance_id)
            else:
                self.round.down.append((instance_id, f"instance {item.state.value}", HealthState.CLOSE.value))
            logger.info(
                "instance health %s",
                item.state.value,
                extra={"action": "sender.health", "instance_id": instance_id, "state": item.state.value},
            )
            return
        claim, contact = item.claim, item.claim.contact
        assert contact is not None and claim.queue_id is not None
        if item.missed:
            # Not sent: the contact goes back untouched (re-rendered text kept) and the slot too,
            # unless it was taken since.
            self.round.give_backs.append((claim, True, (item.message, item.rendered_on)))
            logger.info(
                "slot missed: contact given back",
                extra={"action": "sender.slot_missed", **_message_ids(claim), "late_s": round(item.late_s, 3)},
            )
            return
        if item.update is None:
            # Instance down: the contact goes back untouched, no attempt consumed; the queue waits.
            self.round.give_backs.append((claim, False, None))
            if item.auth_failed:
                self._auth_failed(instance_id)
                return
            self.round.down.append((instance_id, item.why_down or "instance down", HealthState.CLOSE.value))
            logger.warning(
                "instance down: contact given back",
                extra={"action": "sender.instance_down", **_message_ids(claim)},
            )
            return
        update = item.update
        if item.latency_s is not None:
            self.sent += 1
        elif not item.started:
            # Expired, opted out or unrenderable: no message went out, so the slot (and the day's
            # count) goes back to the instance. A call that began and crashed keeps it: the message
            # may have reached the gateway.
            self.round.slots_back.append(claim)
        self.processed += 1
        self.round.outcomes.append(
            {
                "contact_id": contact.id,
                "queue_id": claim.queue_id,
                "instance_id": instance_id,
                "claim": claim.claim,
                "now": self.clock.now(),
                "status": update.status.value,
                "attempt_inc": update.attempt_inc,
                "next_attempt_at": update.next_attempt_at,
                "error": update.error,
                "provider_id": update.provider_id,
                "remote_jid": update.remote_jid,
                "sent_at": update.sent_at,
                "message": item.message,
                "rendered_on": item.rendered_on,
                "record_chat": update.status is ContactStatus.SENT,
                # A call that was answered moves the slot to one step after its start; a crashed one
                # keeps the reserve.
                "slot_move_s": item.slot_move_s,
                "slot": claim.slot if item.latency_s is not None else None,
                **update.counters(),
            }
        )
        metrics.record_sent(contact.tenant_id, str(claim.template_type), update.status.value)
        level = logging.INFO if update.status is ContactStatus.SENT else logging.WARNING
        logger.log(
            level,
            "contact %s",
            update.status.value,
            extra={
                "action": f"sender.{update.status.value}",
                **_message_ids(claim),
                "phone": mask_phone(contact.phone),
                "outcome": update.status.value,
                "latency_ms": None if item.latency_s is None else round(item.latency_s * 1000, 1),
                "error": update.error,
            },
        )


def _message_ids(claim: sql.SlotClaim) -> dict[str, str | None]:
    """The ids every per-message log line carries, so one batch can be followed through the logs."""
    return {
        "tenant_id": claim.contact.tenant_id if claim.contact is not None else claim.instance.tenant_id,
        "queue_id": claim.queue_id,
        "campaign_id": claim.campaign_id,
        "template_type": None if claim.template_type is None else str(claim.template_type),
        "instance_id": claim.instance.id,
        "contact_id": None if claim.contact is None else claim.contact.id,
    }


# --- one dispatcher per process -----------------------------------------------------------------------

_active_lock = threading.Lock()
_active = False
_nudged = False
_nudge = threading.Event()  # wakes a dispatch sleeping for its next slot


def dispatch(*, deps: SenderDeps | None = None) -> DispatchResult:
    """Serve due slots until none is near. A second call while one runs in this process only nudges it."""
    global _active, _nudged
    with _active_lock:
        if _active:
            _nudged = True
            _nudge.set()
            return DispatchResult("nudged")
        _active, _nudged = True, False
        _nudge.clear()

    def keep_going() -> bool:
        # A token that arrived while we were finishing: look once more instead of ending.
        global _nudged
        with _active_lock:
            nudged, _nudged = _nudged, False
        return nudged

    deps = deps or SenderDeps()
    try:
        while True:
            with shutdown.in_flight():
                result = Dispatcher(deps).run(keep_going=keep_going)
            with _active_lock:
                # A token that came after the last look but before we let go: look again.
                if result.outcome != "idle" or not _nudged:
                    _active = False
                    break
                _nudged = False
    except BaseException:
        with _active_lock:
            _active = False
        raise
    logger.info(
        "dispatch finished: %s",
        result.outcome,
        extra={
            "action": "sender.finished",
            "outcome": result.outcome,
            "sent": result.sent,
            "processed": result.processed,
        },
    )
    return result
