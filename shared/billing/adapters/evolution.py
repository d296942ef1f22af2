"""Evolution API (WhatsApp gateway) client: one pooled httpx client per instance.

Every gateway answer becomes a ``SendOutcome`` from a closed set; network trouble never raises out of
``send_text`` or ``check_health``. Facts about the gateway's answers: docs/gateway.md, "What the client
relies on".
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx
import tenacity

from billing.adapters.evolution_answers import (  # re-exported: callers import one module
    ErrorInfo,
    GatewayConfig,
    _transport_outcome,
    classify_response,
    parse_error_body,
    parse_retry_after,
    to_number,
)
from billing.domain.gateway import HealthState, OutcomeKind, SendOutcome
from billing.errors import GatewayError
from billing.logs import mask_phone

logger = logging.getLogger(__name__)

# Evolution runs on Node, whose HTTP server closes keep-alive sockets idle for 5 s by default. Reusing
# one just as the gateway closes it fails after the request went out, which we must treat as "maybe
# sent" (the contact becomes unknown, never resent). Never reuse a socket idle for 4 s or more.
KEEPALIVE_EXPIRY_S = 4.0


__all__ = [
    "ErrorInfo",
    "EvolutionClient",
    "GatewayConfig",
    "HealthState",
    "OutcomeKind",
    "SendOutcome",
    "classify_response",
    "close_all_clients",
    "get_client",
    "parse_error_body",
    "parse_retry_after",
    "to_number",
]


# --- the client --------------------------------------------------------------------------------------


_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()


def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context (CA bundle loaded once) for every instance's client: building one costs about
    30 ms of CPU, which a sender serving hundreds of instances would pay per instance."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


class EvolutionClient:
    """Synchronous, thread-safe client of one Evolution instance."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        max_attempts: int = 3,
        deadline_s: float = 20.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
        retry_unknown: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.max_attempts = max(1, max_attempts)
        self.deadline_s = deadline_s
        self.retry_unknown = retry_unknown
        self._sleep = sleep
        self._jitter = tenacity.wait_random_exponential(multiplier=backoff_base_s, max=backoff_max_s)
        self._path = quote(config.instance, safe="")
        self._http = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            verify=shared_ssl_context(),
            headers={"apikey": config.api_key},
            timeout=self._timeout(config.typing_delay_ms),
            transport=transport,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=KEEPALIVE_EXPIRY_S),
        )

    def _timeout(self, delay_ms: int) -> httpx.Timeout:
        # The gateway holds the call for the whole typing delay: the read timeout must outlast it.
        read = max(self.config.read_timeout_s, delay_ms / 1000 + 5) if delay_ms > 0 else self.config.read_timeout_s
        return self._timeouts(read)

    def _timeouts(self, read_s: float) -> httpx.Timeout:
        connect = self.config.connect_timeout_s
        return httpx.Timeout(connect=connect, read=read_s, write=read_s, pool=connect)

    def _body(self, number: str, text: str, delay_ms: int) -> dict[str, Any]:
        if self.config.api_version == "v1":
            options = {"delay": delay_ms, "presence": "composing", "linkPreview": True}
            return {"number": number, "textMessage": {"text": text}, "options": options}
        return {"number": number, "text": text, "delay": delay_ms, "linkPreview": True}

    def _attempt(self, number: str, text: str, delay_ms: int) -> SendOutcome:
        started = time.monotonic()
        try:
            response = self._http.post(
                f"/message/sendText/{self._path}",
                json=self._body(number, text, delay_ms),
                timeout=self._timeout(delay_ms),
            )
            outcome = classify_response(response.status_code, response.content, response.headers)
        except httpx.TransportError as exc:
            outcome = _transport_outcome(exc)
        except httpx.HTTPError as exc:  # e.g. an invalid base URL: a configuration problem
            outcome = SendOutcome(OutcomeKind.REJECTED, error=type(exc).__name__)
        latency = time.monotonic() - started
        outcome = replace(outcome, latency_s=latency)
        level = logging.INFO if outcome.kind is OutcomeKind.SENT else logging.WARNING
        logger.log(
            level,
            "gateway send %s",
            outcome.kind.value,
            extra={
                "action": "gateway.send",
                "instance": self.config.instance,
                "phone": mask_phone(number),
                "outcome": outcome.kind.value,
                "status_code": outcome.status_code,
                "latency_ms": round(latency * 1000, 1),
                "error": outcome.error,
            },
        )
        return outcome

    def _should_retry(self, outcome: SendOutcome) -> bool:
        return outcome.kind is OutcomeKind.TRANSIENT and (self.retry_unknown or not outcome.delivery_unknown)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        last = state.outcome.result() if state.outcome else None
        if isinstance(last, SendOutcome) and last.retry_after is not None:
            return last.retry_after
        return float(self._jitter(state))

    def send_text(self, phone_e164: str, text: str, *, retry: bool = True, delay_ms: int | None = None) -> SendOutcome:
        """Send one text. Never raises for gateway or network problems."""
        number = to_number(phone_e164)
        if not number:
            return SendOutcome(OutcomeKind.INVALID_NUMBER, error="phone has no digits")
        delay = self.config.typing_delay_ms if delay_ms is None else max(0, delay_ms)
        if not retry:
            return self._attempt(number, text, delay)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_result(self._should_retry),
            wait=self._wait,
            stop=tenacity.stop_after_attempt(self.max_attempts) | tenacity.stop_before_delay(self.deadline_s),
            sleep=self._sleep,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        outcome: SendOutcome = retrying(self._attempt, number, text, delay)
        return outcome

    def check_health(self, *, timeout_s: float | None = None) -> HealthState:
        """The instance's live connection state; ``unreachable`` when the gateway cannot tell us in
        ``timeout_s`` (default: the configured read timeout)."""
        read = self.config.read_timeout_s if timeout_s is None else min(timeout_s, self.config.read_timeout_s)
        try:
            response = self._http.get(f"/instance/connectionState/{self._path}", timeout=self._timeouts(read))
        except httpx.HTTPError as exc:
            logger.warning(
                "gateway health check failed: %s",
                type(exc).__name__,
                extra={"action": "gateway.health", "instance": self.config.instance},
            )
            return HealthState.UNREACHABLE
        state = HealthState.UNREACHABLE
        if response.status_code in (401, 403):
            state = HealthState.AUTH_FAILED
        elif response.status_code == 404:
            state = HealthState.CLOSE
        elif response.status_code == 200:
            try:
                raw = response.json()["instance"].get("state")
            except (ValueError, KeyError, TypeError, AttributeError):
                raw = None
            state = HealthState(raw) if raw in ("open", "connecting") else HealthState.CLOSE
        logger.info(
            "gateway health %s",
            state.value,
            extra={"action": "gateway.health", "instance": self.config.instance, "state": state.value},
        )
        return state

    def check_numbers(self, phones: Sequence[str]) -> dict[str, bool]:
        """Which phones are on WhatsApp. Bulk checks risk bans: keep batches small. Raises GatewayError."""
        numbers = {phone: to_number(phone) for phone in phones}
        try:
            response = self._http.post(f"/chat/whatsappNumbers/{self._path}", json={"numbers": list(numbers.values())})
            rows = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            raise GatewayError(f"whatsappNumbers failed: {type(exc).__name__}") from exc
        if not isinstance(rows, list):
            raise GatewayError(f"whatsappNumbers answered {response.status_code}")
        exists = {
            to_number(str(row.get("number", ""))): bool(row.get("exists")) for row in rows if isinstance(row, dict)
        }
        return {phone: exists.get(number, False) for phone, number in numbers.items()}

    def close(self) -> None:
        self._http.close()


_clients: dict[tuple[str, str, str, str], EvolutionClient] = {}
_clients_lock = threading.Lock()


def get_client(config: GatewayConfig) -> EvolutionClient:
    """The process-wide client for this instance, so warm invocations reuse pooled connections."""
    with _clients_lock:
        client = _clients.get(config.cache_key)
        if client is not None and client.config == config:
            return client
        if client is not None:
            client.close()
        client = _clients[config.cache_key] = EvolutionClient(config)
        return client


def close_all_clients() -> None:
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
