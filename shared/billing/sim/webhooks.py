"""Webhook deliveries the way Evolution v2 sends them: the envelope, per-instance headers, retries."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp

from billing.sim.state import Instance, Message, SimState

logger = logging.getLogger(__name__)

_NON_RETRYABLE = frozenset({400, 401, 403, 404, 422})
_MAX_ATTEMPTS = 3
_RETRY_DELAY_S = 0.2


class WebhookDispatcher:
    """Posts ``messages.update`` acks after each send and ``messages.upsert`` for simulated replies."""

    def __init__(self, sim: SimState, *, server_url: str = "") -> None:
        self.sim = sim
        self.server_url = server_url
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()

    def _url(self, instance: Instance) -> str | None:
        return instance.webhook_url or self.sim.default_webhook_url

    def message_sent(self, instance: Instance, message: Message) -> None:
        """Schedule SERVER_ACK -> DELIVERY_ACK -> READ for an accepted message (no-op without a URL)."""
        if self._url(instance) is None or not instance.webhook_acks:
            return
        task = asyncio.get_running_loop().create_task(self._acks(instance, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _acks(self, instance: Instance, message: Message) -> None:
        for status in instance.webhook_acks:
            await asyncio.sleep(instance.webhook_ack_delay_ms / 1000)
            data = {
                "keyId": message.message_id,
                "remoteJid": message.remote_jid,
                "fromMe": True,
                "status": status,
                "instanceId": instance.id,
                "messageId": "sim" + secrets.token_hex(11),
            }
            await self.deliver(instance, "messages.update", data)

    def reply_data(self, instance: Instance, number: str, text: str) -> dict[str, Any]:
        jid = number if "@" in number else f"{number}@s.whatsapp.net"
        return {
            "key": {"remoteJid": jid, "fromMe": False, "id": "3A" + secrets.token_hex(9).upper()},
            "pushName": "Cliente",
            "status": "DELIVERY_ACK",
            "message": {"conversation": text},
            "contextInfo": None,
            "messageType": "conversation",
            "messageTimestamp": int(time.time()),
            "instanceId": instance.id,
            "source": "android",
        }

    async def deliver(self, instance: Instance, event: str, data: dict[str, Any]) -> int | None:
        """POST one event with Evolution's retry rules; returns the last HTTP status (None: unreachable)."""
        url = self._url(instance)
        if url is None:
            return None
        envelope = {
            "event": event,
            "instance": instance.name,
            "data": data,
            "destination": url,
            "date_time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "sender": f"{instance.owner_number}@s.whatsapp.net",
            "server_url": self.server_url,
            "apikey": instance.token,
        }
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        status: int | None = None
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                async with self._session.post(url, json=envelope, headers=instance.webhook_headers) as resp:
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                logger.warning("webhook delivery failed: %s", type(exc).__name__, extra={"action": "sim.webhook"})
                status = None
            self._log(instance, event, data, status, attempt)
            if status is not None and (status < 300 or status in _NON_RETRYABLE):
                break
            await asyncio.sleep(_RETRY_DELAY_S * attempt)
        return status

    def _log(self, instance: Instance, event: str, data: dict[str, Any], status: int | None, attempt: int) -> None:
        key_id = data.get("keyId") or data.get("key", {}).get("id")
        entry = {
            "event": event,
            "instance": instance.name,
            "key_id": key_id,
            "status": data.get("status"),
            "http_status": status,
            "attempt": attempt,
            "at": time.time(),
        }
        with self.sim.lock:
            self.sim.webhook_log.append(entry)
