"""The sweeper keeps every queue moving (issue 7): one tick runs these steps, each idempotent and safe
with several sweepers at once, within ``sweeper_budget_s``; what is left waits for the next tick.

1. stale: contacts ``sending`` for longer than ``BILLING_LEASE_S`` (their sender died mid-call) become
   ``unknown`` (never resent); runnable queues with nothing left open are completed;
2. unpublished: pending queues whose token was never confirmed -> publish;
3. due: scheduled queues whose time came, parked queues whose ``resume_at`` came -> publish;
4. recovery: one health check per instance with ``instance_down`` queues (inline for a few, fanned out
   through ``check_recovery`` tokens for many) -> resume the queues of open instances; expired
   rate-limit windows are purged;
5. wake: a pacing slot due with work behind it -> one token wakes dispatch;
6. webhooks: new events numbered; an ERP endpoint due (new events, or a retry whose time came) -> one
   token wakes the deliverer;
7. purge, and one structured summary log line.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from billing import bootstrap
from billing.adapters.broker import Publisher, Token, queue_names
from billing.bootstrap import GatewayFactory
from billing.clock import SYSTEM_CLOCK, Clock
from billing.config import Settings, get_settings
from billing.db import claims
from billing.db import dispatch as dispatch_sql
from billing.db.endpoints import purge_deliveries
from billing.db.engine import UnitOfWork, unit_of_work
from billing.domain.gateway import HealthState
from billing.errors import BrokerUnavailableError
from billing.services.publishing import Claimed, publish_claimed
from billing.services.sweep import steps, upkeep
from billing.services.sweep.steps import InstanceRow
from billing.services.webhooks_out.wake import wake_if_due

logger = logging.getLogger(__name__)

BATCH = 200
INLINE_HEALTH_CHECKS = 5
RECHECK_AFTER = timedelta(seconds=50)  # the sweeper ticks every minute: one check per instance per tick

# A health check answers in milliseconds when the gateway is up; one sweeper tick checks many
# instances, so a gateway that hangs must not take the tick's whole budget.
HEALTH_CHECK_TIMEOUT_S = 10.0


@dataclass
class SweepSummary:
    stale_released: int = 0
    unknown_contacts: int = 0
    completed: int = 0
    dispatch_woken: bool = False
    deliverer_woken: bool = False
    unpublished: int = 0
    scheduled: int = 0
    resumed: int = 0
    instances_checked: int = 0
    instances_open: int = 0
    recovery_fanned_out: int = 0
    recovered_queues: int = 0
    published: int = 0
    publish_deferred: int = 0
    rate_limit_buckets_purged: int = 0
    stranded: int = 0
    receipts_caught_up: int = 0
    receipts_purged: int = 0
    deliveries_purged: int = 0
    retention_purged: int = 0
    out_of_time: bool = False
    steps: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Sweeper:
    """One tick's dependencies and bookkeeping."""

    settings: Settings
    publisher: Publisher
    clock: Clock
    gateway: GatewayFactory = bootstrap.gateway_for
    summary: SweepSummary = field(default_factory=SweepSummary)
    deadline: float = 0.0

    def __post_init__(self) -> None:
        self.deadline = self.clock.monotonic() + self.settings.sweeper_budget_s

    def time_left(self) -> bool:
        if self.clock.monotonic() < self.deadline:
            return True
        self.summary.out_of_time = True
        return False

    def _publish(self, claimed: Sequence[Claimed], reason: str, stamp: datetime, uow: UnitOfWork) -> None:
        if not claimed:
            return
        result = publish_claimed(claimed, reason=reason, stamp=stamp, publisher=self.publisher, uow=uow)
        self.summary.published += len(result.published)
        self.summary.publish_deferred += len(result.unclaimed)

    def _claim_loop(self, claim: Callable[..., list[Claimed]], reason: str) -> int:
        """Claim and publish batch after batch until a short batch or the budget ends the step."""
        total = 0
        while self.time_left():
            now = self.clock.now()
            with unit_of_work() as uow:
                claimed = claim(session=uow.session, now=now, batch=BATCH)
                uow.commit()
                self._publish(claimed, reason, now, uow)
            total += len(claimed)
            if len(claimed) < BATCH:
                break
        return total

    def stale(self) -> None:
        self.summary.steps.append("stale")
        while self.time_left():
            now = self.clock.now()
            with unit_of_work() as uow:
                result = steps.release_stale(
                    session=uow.session,
                    now=now,
                    batch=BATCH,
                    claim_timeout=timedelta(seconds=self.settings.lease_s),
                )
                uow.commit()
            self.summary.stale_released += result.released
            self.summary.unknown_contacts += result.unknown_contacts
            self.summary.completed += result.completed
            if result.unknown_contacts < BATCH:
                break

    def wake(self) -> None:
        """A slot due with work behind it and no sender serving it (its invocation ended on a long
        wait, a daily cap or a retry time): one token wakes dispatch."""
        self.summary.steps.append("wake")
        now = self.clock.now()
        with unit_of_work() as uow:
            due = dispatch_sql.any_due(uow.session.connection(), now=now)
        if not due:
            return
        try:
            self.publisher.publish(queue_names().resume, Token(kind="queue", reason="slot_due"))
        except BrokerUnavailableError as exc:
            logger.warning("wake token not published: %s", exc, extra={"action": "sweep.wake_failed"})
            self.summary.publish_deferred += 1
            return
        self.summary.dispatch_woken = True

    def webhooks(self) -> None:
        """ERP endpoints with events waiting, or a retry due: one token wakes the deliverer."""
        self.summary.steps.append("webhooks")
        self.summary.deliverer_woken = wake_if_due(self.publisher, now=self.clock.now())

    def unpublished(self) -> None:
        self.summary.steps.append("unpublished")
        self.summary.unpublished += self._claim_loop(steps.claim_unpublished, "unpublished")
        self.summary.stranded += self._claim_loop(upkeep.claim_stranded, "stranded")

    def due(self) -> None:
        self.summary.steps.append("due")
        self.summary.scheduled += self._claim_loop(steps.claim_scheduled, "scheduled")
        self.summary.resumed += self._claim_loop(steps.claim_resumable, "resume_at")

    def recovery(self) -> None:
        self.summary.steps.append("recovery")
        if not self.time_left():
            return
        now = self.clock.now()
        with unit_of_work() as uow:
            instances = steps.claim_instances_to_check(
                session=uow.session, now=now, batch=BATCH * 5, recheck_after=RECHECK_AFTER
            )
            uow.commit()
        inline = list(instances)
        if len(instances) > INLINE_HEALTH_CHECKS:
            inline = self._fan_out(instances)
        for instance in inline:
            if not self.time_left():
                break  # health_checked_at was claimed: these are checked again after RECHECK_AFTER
            self.check_instance(instance)

    def _fan_out(self, instances: Sequence[InstanceRow]) -> list[InstanceRow]:
        """One ``check_recovery`` token per instance; the ones the broker refused are checked inline."""
        target = queue_names().check_recovery
        for index, instance in enumerate(instances):
            token = Token(
                kind="check_recovery",
                instance_id=str(instance.id),
                tenant_id=str(instance.tenant_id),
                reason="instance_down",
            )
            try:
                self.publisher.publish(target, token)
            except BrokerUnavailableError:
                return list(instances[index:])
            self.summary.recovery_fanned_out += 1
        return []

    def check_instance(self, instance: InstanceRow) -> HealthState:
        state = self.gateway(instance, self.settings).check_health(timeout_s=HEALTH_CHECK_TIMEOUT_S)
        now = self.clock.now()
        self.summary.instances_checked += 1
        with unit_of_work() as uow:
            claims.mark_instance_health(uow.session, instance_id=instance.id, state=state.value, now=now)
            claimed = (
                steps.claim_recovered(instance.id, session=uow.session, now=now) if state is HealthState.OPEN else []
            )
            uow.commit()
            self._publish(claimed, "instance_recovered", now, uow)
        if state is HealthState.OPEN:
            self.summary.instances_open += 1
            self.summary.recovered_queues += len(claimed)
        elif state is HealthState.AUTH_FAILED:
            from billing import metrics

            metrics.record_auth_failure(str(instance.id))
            logger.error(
                "the gateway refused the instance's API key: its queues wait for the right key",
                extra={"action": "sweep.auth_failed", "instance_id": str(instance.id)},
            )
        logger.info(
            "instance health %s",
            state.value,
            extra={
                "action": "sweep.instance_health",
                "instance_id": str(instance.id),
                "state": state.value,
                "queues_resumed": len(claimed),
            },
        )
        return state

    def purge(self) -> None:
        self.summary.steps.append("purge")
        with unit_of_work() as uow:
            now = self.clock.now()
            self.summary.rate_limit_buckets_purged = upkeep.purge_rate_limits(session=uow.session, now=now)
            self.summary.receipts_caught_up = upkeep.catch_up_receipts(session=uow.session, now=now, batch=BATCH)
            self.summary.receipts_purged = upkeep.purge_receipts(session=uow.session, now=now)
            self.summary.deliveries_purged = purge_deliveries(uow.session.connection())
            uow.commit()
        # Its own transaction: a retention purge that runs long must not roll back the upkeep above.
        with unit_of_work() as uow:
            self.summary.retention_purged = upkeep.purge_retained(session=uow.session, now=now)
            uow.commit()

    def log_summary(self, kind: str) -> None:
        level = logging.WARNING if self.summary.out_of_time or self.summary.publish_deferred else logging.INFO
        logger.log(
            level, "sweep %s done", kind, extra={"action": "sweep.summary", "kind": kind, **self.summary.as_dict()}
        )


def _sweeper(
    settings: Settings | None, publisher: Publisher | None, clock: Clock, gateway: GatewayFactory | None
) -> Sweeper:
    return Sweeper(
        settings=settings or get_settings(),
        publisher=publisher or bootstrap.publisher(),
        clock=clock,
        gateway=gateway or bootstrap.gateway_for,
    )


def run_tick(
    *,
    settings: Settings | None = None,
    publisher: Publisher | None = None,
    clock: Clock = SYSTEM_CLOCK,
    gateway: GatewayFactory | None = None,
) -> SweepSummary:
    """One full sweep (the cron tick, and ``billing sweep``)."""
    sweeper = _sweeper(settings, publisher, clock, gateway)
    for step in (
        sweeper.stale,
        sweeper.unpublished,
        sweeper.due,
        sweeper.recovery,
        sweeper.wake,
        sweeper.webhooks,
        sweeper.purge,
    ):
        step()
    sweeper.log_summary("tick")
    return sweeper.summary


def check_recovery(
    instance_id: str | None,
    *,
    settings: Settings | None = None,
    publisher: Publisher | None = None,
    clock: Clock = SYSTEM_CLOCK,
    gateway: GatewayFactory | None = None,
) -> SweepSummary:
    """One instance's health check (a ``check_recovery`` token); an unknown instance needs nothing."""
    sweeper = _sweeper(settings, publisher, clock, gateway)
    try:
        parsed = uuid.UUID(str(instance_id))
    except ValueError:
        logger.warning("check_recovery token without a valid instance id", extra={"action": "sweep.bad_token"})
        return sweeper.summary
    with unit_of_work() as uow:
        instance = steps.load_instance(parsed, session=uow.session)
    if instance is not None:
        sweeper.check_instance(instance)
    sweeper.log_summary("check_recovery")
    return sweeper.summary


def handle_token(token: Token, *, clock: Clock = SYSTEM_CLOCK) -> bool:
    """What the sweeper function does with whatever woke it; every token is handled (2xx)."""
    if token.kind == "check_recovery":
        check_recovery(token.instance_id, clock=clock)
    elif token.kind == "tick":
        run_tick(clock=clock)
    else:
        logger.warning("sweeper ignored a %s token", token.kind, extra={"action": "sweep.ignored", "kind": token.kind})
    return True
