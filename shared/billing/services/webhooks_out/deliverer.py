"""The deliverer (the ``deliverer`` function): post each due endpoint its events, signed as Standard
Webhooks, one at a time in event-id order.

One invocation numbers new events, claims due endpoints under a lease (``FOR UPDATE SKIP LOCKED``: two
replicas never post to one endpoint at once), and serves a few of them at once, each on its own: read the
events after its cursor that pass its filters, POST them in order, and after each one write back what
happened in a short transaction (never one open across the HTTP call). Any 2xx moves the cursor on; 410
disables the endpoint; anything else leaves the cursor and schedules the same event again on the
retry schedule (``Retry-After`` may ask for longer); an endpoint failing for five days is disabled.
It claims again until nothing is due or its budget is spent, then hands on with one token.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from threading import Lock

from billing import bootstrap
from billing.adapters.broker import Publisher, Token
from billing.adapters.outbound_webhooks import signed_headers
from billing.clock import SYSTEM_CLOCK, Clock, iso_utc
from billing.config import Settings, get_settings
from billing.crypto import decrypt_secret
from billing.db import endpoints as endpoint_sql
from billing.db import events as event_store
from billing.db.endpoints import Attempt, ClaimedEndpoint, EndpointState
from billing.db.engine import core_connection, get_engine
from billing.domain.webhooks import Verdict, WebhookPoster, gives_up, message_id, payload, retry_delay
from billing.services.events.log import EventQuery, event_json, read, sequence_pending
from billing.services.webhooks_out.wake import wake_deliverer

logger = logging.getLogger(__name__)

READ_BATCH = 100  # events read per round for one endpoint
# Workers, each claiming one endpoint at a time (never one it cannot start on at once, whose lease could
# run out while it waits); within the database pool (BILLING_DB_POOL_SIZE + overflow).
ENDPOINTS_AT_ONCE = 4
# Renewed with every delivered event; a deliverer that died frees its endpoints after this.
LEASE = timedelta(seconds=60)


@dataclass
class DeliverySummary:
    sequenced: int = 0
    endpoints: int = 0
    delivered: int = 0
    failed: int = 0
    disabled: int = 0
    out_of_time: bool = False
    handed_on: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Deliverer:
    """One invocation's dependencies and bookkeeping."""

    settings: Settings
    poster: WebhookPoster
    publisher: Publisher
    clock: Clock
    rand: Callable[[], float] = random.random
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    summary: DeliverySummary = field(default_factory=DeliverySummary)
    deadline: float = 0.0
    _count: Lock = field(default_factory=Lock)

    def __post_init__(self) -> None:
        self.deadline = self.clock.monotonic() + self.settings.deliverer_budget_s

    def time_left(self) -> bool:
        if self.clock.monotonic() < self.deadline:
            return True
        self.summary.out_of_time = True
        return False

    def _add(self, **counts: int) -> None:
        with self._count:
            for name, value in counts.items():
                setattr(self.summary, name, getattr(self.summary, name) + value)

    def run(self) -> DeliverySummary:
        with ThreadPoolExecutor(ENDPOINTS_AT_ONCE, thread_name_prefix="deliverer") as pool:
            for worker in [pool.submit(self.work) for _ in range(ENDPOINTS_AT_ONCE)]:
                worker.result()
        if self.summary.out_of_time:
            # Work may be left: the next invocation carries on (a token too many finds nothing due).
            self.summary.handed_on = wake_deliverer(self.publisher, reason="continuation")
        level = logging.WARNING if self.summary.failed or self.summary.disabled else logging.INFO
        logger.log(level, "deliverer done", extra={"action": "deliverer.summary", **self.summary.as_dict()})
        return self.summary

    def work(self) -> None:
        """Claim one due endpoint after another (new events numbered first) until none is due or time is up."""
        engine = get_engine()
        while self.time_left():
            self._add(sequenced=sequence_pending(engine))
            now = self.clock.now()
            with engine.begin() as conn:
                claimed = endpoint_sql.claim_due(conn, now=now, owner=self.owner, until=now + LEASE, batch=1)
            if not claimed:
                return
            self._add(endpoints=1)
            self.serve(claimed[0])

    def serve(self, endpoint: ClaimedEndpoint) -> None:
        """Post the endpoint's events in order until it is caught up, fails, or the budget ends."""
        try:
            self._serve(endpoint)
        except Exception:
            # One endpoint's trouble (a secret BILLING_SECRET_KEY no longer decrypts, the database gone)
            # must not stop the others. Its lease is kept until it runs out, so it is tried again after
            # LEASE rather than claimed again at once by this loop.
            logger.exception(
                "endpoint not served", extra={"action": "deliverer.error", "endpoint_id": str(endpoint.id)}
            )
            return
        with core_connection() as conn, conn.begin():
            endpoint_sql.release(conn, endpoint.id, owner=self.owner)

    def _serve(self, endpoint: ClaimedEndpoint) -> None:
        key = self.settings.billing_secret_key.get_secret_value()
        secret = decrypt_secret(endpoint.secret_encrypted, secret_key=key)
        query = EventQuery(tenant_id=endpoint.tenant_id, after=endpoint.last_event_id, types=endpoint.event_types)
        while self.time_left():
            with core_connection() as conn:
                # Read first: every event up to it that passes the filters is in the page read next.
                latest = event_store.last_id(conn, tenant_id=endpoint.tenant_id)
                events = read(query, conn=conn, limit=READ_BATCH)
            for event in events:
                if not self._post(endpoint, secret, event):
                    return
                query = EventQuery(tenant_id=query.tenant_id, after=event.id, types=query.types)
                endpoint = _after_success(endpoint, event.id)
                if not self.time_left():
                    return
            if len(events) < READ_BATCH:
                if latest > query.after:  # what the filters left out is behind the endpoint too
                    with core_connection() as conn, conn.begin():
                        endpoint_sql.advance(conn, endpoint.id, owner=self.owner, to=latest)
                return

    def _post(self, endpoint: ClaimedEndpoint, secret: str, event: event_store.StoredEvent) -> bool:
        """One POST and its record; True when it was delivered and the endpoint is still ours."""
        body_fields = event_json(event)
        body = payload(body_fields["type"], body_fields["timestamp"], body_fields["data"])
        at = self.clock.now()
        headers = signed_headers(secret, msg_id=message_id(event.id), at=at, body=body)
        result = self.poster.post(endpoint.url, body=body, headers=headers)
        now = self.clock.now()
        verdict = result.verdict
        attempt = Attempt(
            event_id=event.id,
            event_type=event.type,
            attempt=endpoint.attempts + 1,
            status_code=result.status,
            outcome=verdict.value,
            error=result.error,
            duration_ms=round(result.duration_s * 1000),
            attempted_at=at,
        )
        state = self._state_after(
            endpoint, event.id, verdict, result.retry_after_s, now=now, throttled=result.throttled
        )
        with core_connection() as conn, conn.begin():
            ours = endpoint_sql.record(conn, endpoint.id, owner=self.owner, state=state, attempt=attempt)
        extra = {"endpoint_id": str(endpoint.id), "event_id": event.id, "status": result.status}
        if verdict is Verdict.DELIVERED:
            self._add(delivered=1)
            return ours
        if not state.enabled:
            self._add(disabled=1)
            logger.warning(
                "endpoint disabled: %s", state.disabled_reason, extra={"action": "endpoint.disabled", **extra}
            )
        else:
            self._add(failed=1)
            retry_in = (state.next_attempt_at - now).total_seconds() if state.next_attempt_at else None
            logger.warning(
                "webhook not delivered: %s",
                result.error,
                extra={"action": "endpoint.failed", "attempts": state.attempts, "retry_in_s": retry_in, **extra},
            )
        return False

    def _state_after(
        self,
        endpoint: ClaimedEndpoint,
        event_id: int,
        verdict: Verdict,
        retry_after_s: float | None,
        *,
        now: datetime,
        throttled: bool = False,
    ) -> EndpointState:
        if verdict is Verdict.DELIVERED:
            return EndpointState(last_event_id=event_id, lease_until=now + LEASE)
        attempts = endpoint.attempts + 1
        failing_since = endpoint.failing_since or now
        kept = EndpointState(last_event_id=endpoint.last_event_id, attempts=attempts, failing_since=failing_since)
        reason = None
        if verdict is Verdict.GONE:
            reason = "the endpoint answered 410 Gone"
        elif gives_up(failing_since, now, after=timedelta(seconds=self.settings.webhook_disable_after_s)):
            reason = f"failing since {iso_utc(failing_since)} ({attempts} attempts)"
        if reason is not None:
            return replace(kept, enabled=False, disabled_reason=reason, disabled_at=now)
        delay = retry_delay(
            attempts,
            self.settings.webhook_retry_delays,
            retry_after_s=retry_after_s,
            rand=self.rand(),
            throttled=throttled,
        )
        return replace(kept, next_attempt_at=now + timedelta(seconds=delay))


def _after_success(endpoint: ClaimedEndpoint, event_id: int) -> ClaimedEndpoint:
    return replace(endpoint, last_event_id=event_id, attempts=0, failing_since=None)


def deliver_due(
    *,
    settings: Settings | None = None,
    poster: WebhookPoster | None = None,
    publisher: Publisher | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> DeliverySummary:
    """One deliverer invocation (the ``deliverer`` function, and tests)."""
    settings = settings or get_settings()
    return Deliverer(
        settings=settings,
        poster=poster or bootstrap.webhook_poster(settings),
        publisher=publisher or bootstrap.publisher_or_deferred(),
        clock=clock,
    ).run()


def handle_token(token: Token) -> bool:
    """Whatever woke the deliverer (a wake token, a tick) asks for the same thing: serve what is due."""
    deliver_due()
    return True
