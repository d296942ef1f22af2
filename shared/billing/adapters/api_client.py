"""A client of our own ERP-facing API, as an ERP would use it: ``billing smoke`` checks a deployment.

It posts one notification to a test phone and follows its queue until it is over, through the public
routes only (send, then status), so it proves the whole chain: ingress, API key, database, broker,
sender, gateway.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

logger = logging.getLogger(__name__)

API_KEY_HEADER = "X-Billing-API-Key"
_FINAL = frozenset({"completed", "cancelled", "failed"})
_WAITING = frozenset({"paused", "paused_business_hours", "instance_down"})


@dataclass
class SmokeResult:
    """``ok``: the notification was sent. ``problem``: what went wrong, in one sentence."""

    ok: bool
    queue_id: str | None = None
    status: str | None = None
    seconds: float = 0.0
    problem: str | None = None
    last_status: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "queue_id": self.queue_id,
            "status": self.status,
            "seconds": round(self.seconds, 1),
            "problem": self.problem,
            "sent": self.last_status.get("sent"),
            "failures": self.last_status.get("failures"),
            "paused_reason": self.last_status.get("paused_reason"),
        }


def _detail(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200] or answer.reason_phrase
    return str(body.get("detail") or body.get("title") or body) if isinstance(body, dict) else str(body)[:200]


def run_smoke(
    base_url: str,
    api_key: str,
    phone: str,
    *,
    message: str = "Teste de configuração do billing (smoke test).",
    timeout_s: float = 120.0,
    poll_s: float = 1.0,
    client: httpx.Client | None = None,
) -> SmokeResult:
    """Send one notification to ``phone`` through ``base_url`` and follow it until it is over or
    ``timeout_s`` passes. Never raises for what the deployment answers: the result says what happened."""
    started = time.monotonic()
    http = client or httpx.Client(base_url=base_url.rstrip("/"), headers={API_KEY_HEADER: api_key}, timeout=15.0)
    try:
        body = {"contacts": [{"phone": phone, "name": "Smoke test", "variables": {"mensagem": message}}]}
        try:
            answer = http.post("/api/v1/billing/send/notification", json=body)
        except httpx.HTTPError as exc:
            return SmokeResult(False, problem=f"cannot reach {base_url}: {type(exc).__name__}: {exc}")
        if answer.status_code not in (200, 202):
            return SmokeResult(False, problem=f"send answered {answer.status_code}: {_detail(answer)}")
        sent = answer.json()
        queue_id = str(sent["queue_id"])
        if sent.get("accepted") != 1:
            return SmokeResult(False, queue_id, problem=f"the test contact was rejected: {sent.get('rejected')}")
        status: dict[str, Any] = {}
        while time.monotonic() - started < timeout_s:
            try:
                polled = http.get(f"/api/v1/billing/queue/{queue_id}/status")
            except httpx.HTTPError as exc:
                return SmokeResult(False, queue_id, problem=f"status unreachable: {type(exc).__name__}")
            if polled.status_code != 200:
                return SmokeResult(False, queue_id, problem=f"status answered {polled.status_code}: {_detail(polled)}")
            status = polled.json()
            if status["status"] in _FINAL:
                ok = status["status"] == "completed" and status.get("sent") == 1
                problem = None if ok else f"the queue ended {status['status']} with sent={status.get('sent')}"
                return SmokeResult(ok, queue_id, status["status"], time.monotonic() - started, problem, status)
            time.sleep(poll_s)
        waiting = status.get("status")
        why = f" ({status.get('paused_reason')})" if waiting in _WAITING and status.get("paused_reason") else ""
        return SmokeResult(
            False,
            queue_id,
            waiting,
            time.monotonic() - started,
            f"still {waiting}{why} after {timeout_s:.0f} s: is the sender running and the instance connected?",
            status,
        )
    finally:
        if client is None:
            http.close()
