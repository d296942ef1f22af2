"""The sender's use case: a token says work may be due; serve every due pacing slot, then return.

Tokens are hints: whichever queue a token names, the invocation serves whichever instances' slots are
due across all tenants (``dispatch``). An invocation that ends on its budget or on SIGTERM with slots
still due publishes one token so the next one carries on; the sweeper's tick covers a lost token.
"""

from __future__ import annotations

import logging

from billing.adapters.broker import Token, queue_names
from billing.errors import BrokerUnavailableError
from billing.services.delivery.deps import DispatchResult, SenderDeps
from billing.services.delivery.dispatch import dispatch

logger = logging.getLogger(__name__)


def serve(*, deps: SenderDeps | None = None) -> DispatchResult:
    """Dispatch until idle; carry on through a token when stopped early."""
    deps = deps or SenderDeps()
    result = dispatch(deps=deps)
    if result.outcome in {"budget", "shutdown"}:
        publish_wake(deps, reason=f"continuation:{result.outcome}")
    return result


def publish_wake(deps: SenderDeps, *, reason: str) -> bool:
    """One "work may be due" token for the sender; on failure the sweeper's tick wakes dispatch."""
    try:
        deps.publisher().publish(queue_names().resume, Token(kind="queue", reason=reason))
    except BrokerUnavailableError as exc:
        logger.warning(
            "wake token not published; the sweeper will: %s", exc, extra={"action": "sender.continuation_failed"}
        )
        return False
    return True


def handle(token: Token) -> bool:
    """The sender function's service: True = handled (2xx). Database trouble raises (503, redelivery)."""
    if token.kind != "queue":
        logger.info("token ignored", extra={"action": "sender.ignored", "token_id": token.id, "kind": token.kind})
        return True
    serve()
    return True
