"""ERP webhooks over HTTP: Standard Webhooks headers (signed with the ``standardwebhooks`` package, the
specification's own library) and one POST per call through a pooled httpx client.

Short timeouts, redirects never followed (the specification counts a 3xx as a failure), and at most
``MAX_ANSWER_BYTES`` of an answer read: only its status and ``Retry-After`` matter. Nothing here raises for
what an endpoint or the network does; the URL and the body are never logged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import datetime

import httpx

from billing.adapters.evolution import KEEPALIVE_EXPIRY_S, shared_ssl_context
from billing.adapters.evolution_answers import parse_retry_after
from billing.domain.webhooks import PostResult

MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "billing-webhooks/1"


def signed_headers(secret: str, *, msg_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The headers of one attempt: ``webhook-id`` (the same on every retry), ``webhook-timestamp`` (this
    attempt, unix seconds) and ``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``
    keyed with the secret's bytes)."""
    from standardwebhooks import Webhook

    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


class HttpWebhookPoster:
    """A ``WebhookPoster`` over one pooled, thread-safe httpx client."""

    def __init__(self, *, timeout_s: float, transport: httpx.BaseTransport | None = None) -> None:
        self._timeout_s = timeout_s
        self._http = httpx.Client(
            verify=shared_ssl_context(),
            timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
            follow_redirects=False,
            transport=transport,
            headers={"user-agent": USER_AGENT},
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=KEEPALIVE_EXPIRY_S),
        )

    def post(self, url: str, *, body: bytes, headers: Mapping[str, str]) -> PostResult:
        started = time.monotonic()
        try:
            with self._http.stream("POST", url, content=body, headers=dict(headers)) as response:
                read = 0
                for chunk in response.iter_bytes():  # drained when short, so the connection can be reused
                    read += len(chunk)
                    # The status is known: a large or dripping answer is not waited for (httpx's
                    # timeout is per read, so a byte a second would otherwise hold the endpoint's lease).
                    if read > MAX_ANSWER_BYTES or time.monotonic() - started > self._timeout_s:
                        break
                status = response.status_code
                retry_after = parse_retry_after(response.headers.get("retry-after"))
        except httpx.TimeoutException:
            return PostResult(None, error="timed out", duration_s=time.monotonic() - started)
        except (httpx.HTTPError, ValueError, UnicodeError) as exc:  # refused, reset, TLS, an unusable URL
            return PostResult(None, error=type(exc).__name__, duration_s=time.monotonic() - started)
        error = None if 200 <= status < 300 else f"HTTP {status}"
        return PostResult(status, retry_after_s=retry_after, error=error, duration_s=time.monotonic() - started)

    def close(self) -> None:
        self._http.close()


_posters: dict[float, HttpWebhookPoster] = {}
_posters_lock = threading.Lock()


def get_poster(*, timeout_s: float) -> HttpWebhookPoster:
    """The process's poster for ``timeout_s``, built on first use (never at import)."""
    with _posters_lock:
        poster = _posters.get(timeout_s)
        if poster is None:
            poster = _posters[timeout_s] = HttpWebhookPoster(timeout_s=timeout_s)
        return poster
