"""How ``billing connector`` triggers a function over HTTP: a token as a binary-mode CloudEvent.

The receiving side (any of the three formats a trigger function accepts) is ``billing.http.triggers``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from billing.adapters.broker import Token

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

# Statuses that mean "try again later" even though they are 4xx. 401/403: a trigger token that does
# not match (a rotation half done, a typo in a Secret) is fixed by an operator; until then the tokens
# wait and are redelivered, instead of every one of them being dead-lettered at once.
_RETRYABLE_4XX = frozenset({401, 403, 408, 425, 429})

DeliveryOutcome = Literal["handled", "retry", "poison"]


def cloudevent_headers(token: Token, *, source: str = "billing/connector") -> dict[str, str]:
    """Headers that make a POST of ``token.to_bytes()`` a binary-mode CloudEvent (what Knative sends)."""
    return {
        "ce-specversion": "1.0",
        "ce-id": token.id,
        "ce-source": source,
        "ce-type": f"billing.token.{token.kind}",
        "ce-time": token.created_at.isoformat(),
        "content-type": "application/json",
    }


TRIGGER_TOKEN_HEADER = "X-Billing-Trigger-Token"  # noqa: S105 - a header name, not a secret


async def post_token(
    client: httpx.AsyncClient, url: str, token: Token, *, trigger_token: str | None = None
) -> DeliveryOutcome:
    """Trigger a function over HTTP with ``token`` as a binary-mode CloudEvent.

    2xx is ``handled``; 5xx, 408/425/429 and network errors are ``retry``; any other 4xx is ``poison``
    (the function cannot understand the token, so redelivering cannot help).
    """
    import httpx

    extra = {"url": url, "token_id": token.id, "kind": token.kind}
    try:
        headers = cloudevent_headers(token)
        if trigger_token:
            headers[TRIGGER_TOKEN_HEADER] = trigger_token
        response = await client.post(url, content=token.to_bytes(), headers=headers)
    except httpx.HTTPError as exc:
        logger.warning("function unreachable", extra={"action": "trigger.http_error", "error": repr(exc), **extra})
        return "retry"
    status = response.status_code
    if 200 <= status < 300:
        return "handled"
    logger.warning("function refused the token", extra={"action": "trigger.http_status", "status": status, **extra})
    return "poison" if 400 <= status < 500 and status not in _RETRYABLE_4XX else "retry"
