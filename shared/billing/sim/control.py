"""A small Python client of the simulator's ``/_sim/`` control API, for tests, benches and scripts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx


class SimulatorClient:
    """Every method raises ``httpx.HTTPStatusError`` when the simulator refuses the request."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s)

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, params: dict[str, str] | None = None
    ) -> Any:
        response = self._http.request(method, f"/_sim{path}", json=body, params=params)
        response.raise_for_status()
        return response.json()

    def add_instance(
        self,
        name: str,
        token: str | None = None,
        *,
        state: str = "open",
        webhook_url: str | None = None,
        webhook_headers: dict[str, str] | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Create (or replace) an instance; returns it with its token."""
        body: dict[str, Any] = {"name": name, "token": token, "state": state, **options}
        if webhook_url is not None:
            body["webhook_url"] = webhook_url
        if webhook_headers is not None:
            body["webhook_headers"] = webhook_headers
        result: dict[str, Any] = self._call("POST", "/instances", body)
        return result

    def configure(self, name: str, **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/instances/{name}", options)
        return result

    def remove_instance(self, name: str) -> None:
        self._call("DELETE", f"/instances/{name}")

    def instances(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/instances")
        return result

    def set_state(self, name: str, state: str) -> None:
        """``open``, ``connecting`` or ``close``."""
        self._call("POST", f"/instances/{name}/state", {"state": state})

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        body: Any = None,
        headers: dict[str, str] | None = None,
        instance: str | None = None,
    ) -> None:
        """The next ``count`` sends (of ``instance``, or of any instance) answer ``status`` + ``body``."""
        payload = {"count": count, "status": status, "body": body, "headers": headers or {}}
        self._call("POST", "/fail", {**payload, "instance": instance})

    def throttle_next(
        self, count: int = 1, *, retry_after: float = 1, http_date: bool = False, instance: str | None = None
    ) -> None:
        """The next ``count`` sends answer 429 with ``Retry-After`` (seconds, or an HTTP date)."""
        body = {"count": count, "retry_after": retry_after, "http_date": http_date, "instance": instance}
        self._call("POST", "/throttle", body)

    def set_latency(self, ms: int, *, instance: str | None = None, jitter_ms: int = 0) -> None:
        """Hold sends ``ms`` (+- ``jitter_ms`` when global) before answering, like a real gateway."""
        self._call("POST", "/latency", {"ms": ms, "instance": instance, "jitter_ms": jitter_ms})

    def mark_not_on_whatsapp(self, numbers: Iterable[str], *, on_whatsapp: bool = False) -> None:
        self._call("POST", "/numbers", {"numbers": list(numbers), "on_whatsapp": on_whatsapp})

    def messages(self, instance: str | None = None) -> list[dict[str, Any]]:
        params = {"instance": instance} if instance else {}
        result: list[dict[str, Any]] = self._call("GET", "/messages", params=params)
        return result

    def clear(self) -> None:
        """Forget recorded messages, webhook deliveries and request counters."""
        self._call("DELETE", "/messages")

    def reset(self) -> None:
        """Forget everything, instances included."""
        self._call("POST", "/reset")

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/stats")
        return result

    def send_requests(self, instance: str | None = None) -> int:
        data = self.stats()
        if instance is None:
            return int(data["send_requests"])
        return int(data["instances"][instance]["send_requests"])

    def state_requests(self, instance: str) -> int:
        """How many connectionState calls (health checks) ``instance`` answered."""
        return int(self.stats()["instances"][instance]["state_requests"])

    def webhooks(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/webhooks")
        return result

    def reply(self, instance: str, number: str, text: str) -> dict[str, Any]:
        """Post a ``messages.upsert`` (fromMe false) webhook as if the customer answered."""
        result: dict[str, Any] = self._call("POST", "/reply", {"instance": instance, "number": number, "text": text})
        return result

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SimulatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
