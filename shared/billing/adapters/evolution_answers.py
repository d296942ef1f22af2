"""What the Evolution API answers, read into the port's closed set of outcomes (no I/O here).

Every error body shape the gateway produces (string, list of strings, list of lists, list of
objects, Boom) is parsed without raising; docs/gateway.md ("What the client relies on") has the facts.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from billing.domain.gateway import OutcomeKind, SendOutcome
from billing.logs import scrub_text

_DOWN_MARKERS = ("connection closed", "cannot read properties of undefined", "not connected")
_MAX_ERROR_CHARS = 200


@dataclass(frozen=True)
class GatewayConfig:
    base_url: str
    instance: str
    api_key: str = field(repr=False)
    api_version: str = "v2"
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    typing_delay_ms: int = 0

    @property
    def cache_key(self) -> tuple[str, str, str, str]:
        digest = hashlib.sha256(self.api_key.encode()).hexdigest()
        return (self.base_url.rstrip("/"), self.instance, digest, self.api_version)


# --- reading the gateway's answers ------------------------------------------------------------------


@dataclass
class ErrorInfo:
    """What an error body says, whatever its shape (string, list of strings/lists/objects, Boom)."""

    messages: list[str] = field(default_factory=list)
    not_on_whatsapp: bool = False
    license_required: bool = False

    @property
    def text(self) -> str:
        return "; ".join(self.messages)


def _walk(node: Any, info: ErrorInfo, depth: int = 0) -> None:
    if depth > 8:
        return
    if isinstance(node, str):
        info.messages.append(node)
    elif isinstance(node, list):
        for item in node:
            _walk(item, info, depth + 1)
    elif isinstance(node, dict):
        if node.get("exists") is False:
            info.not_on_whatsapp = True
            return
        if node.get("code") == "LICENSE_REQUIRED":
            info.license_required = True
        for key in ("message", "response", "output", "payload"):
            if key in node:
                _walk(node[key], info, depth + 1)


def parse_error_body(raw: bytes) -> ErrorInfo:
    """Never raises: unknown shapes and non-JSON bodies become a short text."""
    info = ErrorInfo()
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        text = raw[:_MAX_ERROR_CHARS].decode("utf-8", "replace").strip()
        if text:
            info.messages.append(text)
        return info
    _walk(body, info)
    if not info.messages and isinstance(body, dict) and isinstance(body.get("error"), str):
        info.messages.append(body["error"])
    return info


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _short(text: str) -> str:
    return scrub_text(text)[:_MAX_ERROR_CHARS] or "no details"


# Answers a proxy gives when the gateway behind it did not answer in time, or failed after accepting:
# the gateway may already have sent the message (502 Bad Gateway, 504, Cloudflare's 520-524).
_MAYBE_SENT_STATUSES = frozenset({502, 504, 520, 521, 522, 523, 524})


def may_have_gone_out(status: int, lowered_text: str) -> bool:
    """True when an error answer may still mean "sent": retrying could send the reminder twice."""
    return status in _MAYBE_SENT_STATUSES or "timed out" in lowered_text or "timeout" in lowered_text


def classify_response(status: int, raw: bytes, headers: httpx.Headers | None = None) -> SendOutcome:
    """Turn one HTTP answer to ``sendText`` into an outcome (latency is filled in by the caller)."""
    if 200 <= status < 300:
        try:
            body = json.loads(raw)
            key = body["key"]
            return SendOutcome(OutcomeKind.SENT, str(key["id"]), str(key.get("remoteJid") or ""), status)
        except (ValueError, KeyError, TypeError, RecursionError):
            return SendOutcome(OutcomeKind.SENT, status_code=status, error="answer without a message id")
    info = parse_error_body(raw)
    lowered = info.text.lower()
    retry_after = parse_retry_after((headers or httpx.Headers()).get("retry-after"))
    if status in (401, 403):
        refused = f"the gateway refused the API key ({status})"
        return SendOutcome(OutcomeKind.AUTH_FAILED, status_code=status, error=refused)
    if info.not_on_whatsapp and 400 <= status < 500:
        return SendOutcome(OutcomeKind.INVALID_NUMBER, status_code=status, error="number is not on WhatsApp")
    if info.license_required:
        return SendOutcome(OutcomeKind.REJECTED, status_code=status, error="gateway not license-activated")
    if any(marker in lowered for marker in _DOWN_MARKERS):
        return SendOutcome(OutcomeKind.INSTANCE_DOWN, status_code=status, error=_short(info.text))
    if status == 404 and not lowered.startswith("cannot "):
        return SendOutcome(OutcomeKind.INSTANCE_DOWN, status_code=status, error=_short(info.text))
    if status in (408, 425, 429) or status >= 500 or "timed out" in lowered:
        return SendOutcome(
            OutcomeKind.TRANSIENT,
            status_code=status,
            error=_short(info.text),
            retry_after=retry_after,
            delivery_unknown=may_have_gone_out(status, lowered),
        )
    return SendOutcome(OutcomeKind.REJECTED, status_code=status, error=_short(info.text))


def _transport_outcome(exc: httpx.TransportError) -> SendOutcome:
    # Once the request is on the wire the gateway may send the message even though we saw no answer.
    unknown = isinstance(exc, (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError))
    return SendOutcome(OutcomeKind.TRANSIENT, error=type(exc).__name__, delivery_unknown=unknown)


def to_number(phone: str) -> str:
    """E.164 (or anything typed) -> the digits Evolution expects; JIDs pass through untouched."""
    return phone if "@" in phone else re.sub(r"\D", "", phone)
