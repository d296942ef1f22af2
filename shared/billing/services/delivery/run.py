"""One invocation's work on one leased queue: the per-message loop of the sender.

Per message: stop conditions (batch, budget, SIGTERM) -> business hours -> instance health -> claim one
contact (one statement that also heartbeats and re-checks the queue status) -> truth at send time ->
pacing slot -> gateway call (no transaction open) -> outcome + counters + chat history in one short
transaction, guarded by the lease token.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from billing import metrics
from billing.db import claims
from billing.domain import delivery as delivery_rules
from billing.domain.gateway import HealthState, OutcomeKind, SendOutcome
from billing.domain.states import ContactStatus, QueueStatus, TemplateType
from billing.errors import BusinessHoursError
from billing.logs import mask_phone
from billing.services.delivery import slots
from billing.services.delivery.deps import DeliveryResult
from billing.services.delivery.rerender import rerender_if_stale
from billing.services.tenants import TenantRuntime, load_tenant_runtime

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from billing.domain.gateway import Gateway
    from billing.services.delivery.deps import SenderDeps

logger = logging.getLogger(__name__)


class DeliveryRun:
    def __init__(
        self, conn: Connection, queue: claims.ClaimedQueue, token: str, deps: SenderDeps, gateway: Gateway
    ) -> None:
        from billing.db.engine import unit_of_work

        self.conn, self.queue, self.token, self.deps, self.gateway = conn, queue, token, deps, gateway
        self.settings, self.clock = deps.settings, deps.clock
        self.type = TemplateType(queue.template_type)
        with unit_of_work() as uow:
            self.tenant: TenantRuntime = load_tenant_runtime(uuid.UUID(queue.tenant_id), session=uow.session)
        self.started = self.clock.monotonic()
        self.health_checked: float | None = None
        self.sent = 0
        self.processed = 0
        # The last outcome waits to be written in the next transaction (usually the next claim), so a
        # message costs one commit; it is flushed before any sleep or health check.
        self._pending: dict[str, Any] | None = None
        self.lease_lost = False
        self.policy = delivery_rules.RetryPolicy(
            self.settings.max_attempts, self.settings.retry_base_s, self.settings.retry_max_s
        )

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        with self.conn.begin():
            if self._pending is not None:
                pending, self._pending = self._pending, None
                if not claims.record_outcome(self.conn, **pending):
                    self.lease_lost = True
            yield

    def _flush(self) -> None:
        if self._pending is not None:
            with self._tx():
                pass

    # --- the loop ----------------------------------------------------------------------------------

    def run(self) -> DeliveryResult:
        while True:
            stop = self._yield_reason()
            if stop is not None:
                return self._release(QueueStatus.PENDING, "continued", reason=stop)
            now = self.clock.now()
            if self.type.respects_business_hours and not self._open(now):
                return self._park_closed(now)
            if self._health_due() and (state := self._check_health()) is not HealthState.OPEN:
                return self._instance_down(None, f"instance {state.value}")
            lease_until = now + timedelta(seconds=self.settings.lease_s)
            with self._tx():
                claim = claims.claim_contact(
                    self.conn, queue_id=self.queue.id, token=self.token, now=now, lease_until=lease_until
                )
            if not claim.lease_ok or self.lease_lost:
                return self._release(None, "stopped", reason="queue no longer running or lease lost")
            if claim.instance_closed:
                return self._instance_down(None, "the gateway reported the instance closed")
            contact = claim.contact
            if contact is None:
                result = self._finish_or_wait()
                if result is not None:
                    return result
                continue
            result = self._deliver(contact)
            if result is not None:
                return result

    def _yield_reason(self) -> str | None:
        if self.deps.stop_requested():
            return "shutdown"
        if self.sent >= self.tenant.config.batch_size:
            return "batch"
        if self.clock.monotonic() - self.started >= self.settings.function_budget_s:
            return "budget"
        return None

    def _open(self, now: datetime) -> bool:
        return self.tenant.hours is not None and self.tenant.hours.is_open(now)

    def _check_health(self) -> HealthState:
        self._flush()  # never keep an outcome unwritten across an HTTP call
        state = self.gateway.check_health()
        if state is HealthState.OPEN:
            # Our own check is fresher than a stored "close" (from a webhook or an earlier sender).
            with self._tx():
                claims.mark_instance_health(
                    self.conn, instance_id=self.queue.instance_id, state="open", now=self.clock.now()
                )
        return state

    def _health_due(self) -> bool:
        now = self.clock.monotonic()
        if self.health_checked is not None and now - self.health_checked < self.settings.health_check_interval_s:
            return False
        self.health_checked = now
        return True

    # --- one message -------------------------------------------------------------------------------

    def _deliver(self, contact: claims.ClaimedContact) -> DeliveryResult | None:
        now = self.clock.now()
        today = self.tenant.today(now)
        update = delivery_rules.no_longer_true(
            template_type=self.type,
            valid_until=self.queue.valid_until,
            due_date=contact.due_date,
            suppressed=contact.suppressed,
            now=now,
            today=today,
        )
        message, rendered_on = contact.message, contact.rendered_on
        if update is None:
            message, rendered_on, error = rerender_if_stale(self.conn, contact, self.tenant, today)
            if error is not None:
                update = delivery_rules.ContactUpdate(ContactStatus.FAILED, error=error)
        if update is not None:
            return self._record(contact, update, message, rendered_on, latency_s=None)
        if not self.settings.pacing_disabled:
            parked = self._wait_for_slot(contact, now, today)
            if parked is not None:
                return parked
        started = time.monotonic()
        outcome = self.gateway.send_text(contact.phone, message, retry=False)
        latency = time.monotonic() - started
        metrics.observe_send_duration(latency)
        if self._instance_is_down(outcome):
            return self._instance_down(contact, outcome.error or "instance down")
        decided = delivery_rules.decide(
            outcome, attempts_before=contact.attempts, now=self.clock.now(), policy=self.policy, rng=self.deps.rng
        )
        if decided is None:  # pragma: no cover - _instance_is_down covers every None
            return self._instance_down(contact, outcome.error or "instance down")
        self.sent += 1
        return self._record(contact, decided, message, rendered_on, latency_s=latency)

    def _instance_is_down(self, outcome: SendOutcome) -> bool:
        if outcome.kind is OutcomeKind.INSTANCE_DOWN:
            return True
        if not outcome.looks_like_disconnection:
            return False
        self.health_checked = self.clock.monotonic()
        return self._check_health() is not HealthState.OPEN

    def _wait_for_slot(self, contact: claims.ClaimedContact, now: datetime, today: date) -> DeliveryResult | None:
        config = self.tenant.config
        with self._tx():
            slot = slots.take_slot(
                self.conn,
                instance_id=self.queue.instance_id,
                tenant_id=self.queue.tenant_id,
                now=now,
                today=today,
                gap_s=slots.gap_seconds(config.throttle_per_minute, config.jitter_s, self.deps.rng),
                max_wait_s=self.settings.max_inline_wait_s,
                daily_cap=config.daily_cap,
            )
        if slot.taken:
            if self.type.respects_business_hours and not self._open(slot.at):
                # The slot falls after closing time: give the contact back and pause (the slot is lost,
                # which only delays the instance's next message by one gap).
                return self._park_closed(slot.at, give_back=contact)
            self._sleep((slot.at - self.clock.now()).total_seconds())
            return None
        if slot.cap_reached:
            resume_at = self._next_day_opening(now)
            return self._park(contact, QueueStatus.PENDING, resume_at, "daily_cap")
        return self._park(contact, QueueStatus.PENDING, slot.at, "pacing")

    def _next_day_opening(self, now: datetime) -> datetime:
        local = now.astimezone(self.tenant.tz)
        midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=self.tenant.tz)
        if self.type.respects_business_hours and self.tenant.hours is not None:
            return self.tenant.hours.next_opening(midnight)
        return midnight

    def _sleep(self, seconds: float) -> None:
        """Sleep inside the invocation, heartbeating so the lease never lapses while waiting."""
        self._flush()
        while seconds > 0:
            chunk = min(seconds, self.settings.heartbeat_s)
            self.clock.sleep(chunk)
            seconds -= chunk
            if seconds > 0:
                now = self.clock.now()
                with self._tx():
                    claims.heartbeat(
                        self.conn,
                        queue_id=self.queue.id,
                        token=self.token,
                        now=now,
                        lease_until=now + timedelta(seconds=self.settings.lease_s),
                    )

    def _record(
        self,
        contact: claims.ClaimedContact,
        update: delivery_rules.ContactUpdate,
        message: str,
        rendered_on: date,
        *,
        latency_s: float | None,
    ) -> DeliveryResult | None:
        now = self.clock.now()
        self._pending = {
            "contact_id": contact.id,
            "queue_id": self.queue.id,
            "instance_id": self.queue.instance_id,
            "token": self.token,
            "now": now,
            "status": update.status.value,
            "attempt_inc": update.attempt_inc,
            "next_attempt_at": update.next_attempt_at,
            "error": update.error,
            "provider_id": update.provider_id,
            "remote_jid": update.remote_jid,
            "sent_at": update.sent_at,
            "message": message,
            "rendered_on": rendered_on,
            "record_chat": update.status is ContactStatus.SENT,
            **update.counters(),
        }
        self.processed += 1
        metrics.record_sent(self.queue.tenant_id, self.type.value, update.status.value)
        level = logging.INFO if update.status is ContactStatus.SENT else logging.WARNING
        logger.log(
            level,
            "contact %s",
            update.status.value,
            extra={
                "action": f"sender.{update.status.value}",
                "queue_id": self.queue.id,
                "contact_id": contact.id,
                "phone": mask_phone(contact.phone),
                "outcome": update.status.value,
                "latency_ms": None if latency_s is None else round(latency_s * 1000, 1),
                "error": update.error,
            },
        )
        return None

    # --- leaving -----------------------------------------------------------------------------------

    def _finish_or_wait(self) -> DeliveryResult | None:
        with self._tx():
            open_count, sending, next_retry = claims.remaining(self.conn, queue_id=self.queue.id)
        if open_count == 0:
            return self._release(QueueStatus.COMPLETED, "completed")
        now = self.clock.now()
        if next_retry is not None and sending == 0 and open_count > 0:
            wait = (next_retry - now).total_seconds()
            budget_left = self.settings.function_budget_s - (self.clock.monotonic() - self.started)
            if wait <= min(self.settings.max_inline_wait_s, budget_left):
                self._sleep(wait)
                return None
            return self._park(None, QueueStatus.PENDING, next_retry, "retry")
        # Contacts still ``sending`` under another token: the sweeper settles them once its lease is gone.
        return self._park(None, QueueStatus.PENDING, now + timedelta(seconds=self.settings.lease_s), "in_flight")

    def _park_closed(self, now: datetime, *, give_back: claims.ClaimedContact | None = None) -> DeliveryResult:
        try:
            resume_at = self.tenant.require_hours().next_opening(now)
        except BusinessHoursError as exc:
            logger.warning("no business hours: %s", exc, extra={"action": "sender.no_hours", "queue_id": self.queue.id})
            return self._park(give_back, QueueStatus.PAUSED_BUSINESS_HOURS, None, "no_business_hours")
        return self._park(give_back, QueueStatus.PAUSED_BUSINESS_HOURS, resume_at, "business_hours")

    def _instance_down(self, contact: claims.ClaimedContact | None, why: str) -> DeliveryResult:
        with self._tx():
            claims.mark_instance_health(
                self.conn, instance_id=self.queue.instance_id, state="close", now=self.clock.now()
            )
        return self._park(contact, QueueStatus.INSTANCE_DOWN, None, f"instance_down: {why}"[:200])

    def _park(
        self, contact: claims.ClaimedContact | None, status: QueueStatus, resume_at: datetime | None, reason: str
    ) -> DeliveryResult:
        return self._release(status, "parked", resume_at=resume_at, reason=reason, give_back=contact)

    def _release(
        self,
        status: QueueStatus | None,
        outcome: str,
        *,
        resume_at: datetime | None = None,
        reason: str | None = None,
        give_back: claims.ClaimedContact | None = None,
    ) -> DeliveryResult:
        now = self.clock.now()
        with self._tx():
            if give_back is not None:
                claims.unclaim_contact(
                    self.conn,
                    contact_id=give_back.id,
                    previous_status=give_back.previous_status,
                    token=self.token,
                    now=now,
                )
            released = claims.release(
                self.conn,
                queue_id=self.queue.id,
                token=self.token,
                now=now,
                status=status,
                resume_at=resume_at,
                reason=reason,
            )
        final = None if released is None else released[0]
        if self.lease_lost:
            # Our lease was taken over (or the sweeper gave up on us): the newer owner's state wins.
            outcome, reason = "stopped", "lease lost before the outcome was recorded"
        logger.info(
            "queue released: %s",
            outcome,
            extra={
                "action": f"sender.{outcome}",
                "queue_id": self.queue.id,
                "status": final,
                "resume_at": None if released is None or released[1] is None else released[1].isoformat(),
                "reason": reason,
            },
        )
        return DeliveryResult(outcome, final, sent=self.sent, processed=self.processed, reason=reason)
