"""The simulator's mutable world: instances, scripted failures, recorded messages. Thread-safe."""

from __future__ import annotations

import random
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

STATES = ("open", "connecting", "close")
ACKS = ("SERVER_ACK", "DELIVERY_ACK", "READ")


@dataclass
class ScriptedFailure:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


_NOT_OPTIONS = ("name", "failures", "send_requests", "state_requests")  # not options a test may set


@dataclass
class Instance:
    name: str
    token: str
    state: str = "open"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    latency_ms: int = 0
    webhook_url: str | None = None
    webhook_headers: dict[str, str] = field(default_factory=dict)
    webhook_acks: list[str] = field(default_factory=lambda: list(ACKS))
    webhook_ack_delay_ms: int = 50
    owner_number: str = "5511900000000"
    failures: deque[ScriptedFailure] = field(default_factory=deque)
    send_requests: int = 0
    state_requests: int = 0  # connectionState calls: the senders' health checks

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["failures_pending"] = len(self.failures)
        del data["failures"]
        return data


@dataclass(frozen=True)
class Message:
    instance: str
    number: str
    remote_jid: str
    text: str
    message_id: str
    received_monotonic: float
    received_wall: float
    delay_ms: int
    # When the request arrived (before any simulated latency): what pacing is measured against.
    arrived_wall: float = 0.0


def new_message_id() -> str:
    """Ids like the ones Baileys generates for web clients: ``3EB0`` + 18 hex digits."""
    return "3EB0" + secrets.token_hex(9).upper()


class SimState:
    """Everything behind one lock; handlers hold it only for dictionary work, never while waiting."""

    def __init__(self, *, global_api_key: str | None = None, webhook_url: str | None = None) -> None:
        self.lock = threading.Lock()
        self.global_api_key = global_api_key
        self.default_webhook_url = webhook_url
        self.instances: dict[str, Instance] = {}
        self.messages: list[Message] = []
        self.not_on_whatsapp: set[str] = set()
        self.known_numbers: set[str] = set()  # the gateway's IsOnWhatsapp cache
        self.latency_ms = 0
        self.latency_jitter_ms = 0
        self.global_failures: deque[ScriptedFailure] = deque()
        self.webhook_log: list[dict[str, Any]] = []
        self.send_requests = 0

    # --- instances -------------------------------------------------------------------------------

    def add_instance(self, name: str, token: str | None = None, **options: Any) -> Instance:
        with self.lock:
            instance = Instance(name=name, token=token or str(uuid.uuid4()).upper())
            self._apply(instance, options)
            self.instances[name] = instance
            return instance

    def configure(self, name: str, **options: Any) -> Instance:
        with self.lock:
            instance = self.instances[name]
            self._apply(instance, options)
            return instance

    @staticmethod
    def _apply(instance: Instance, options: dict[str, Any]) -> None:
        for key, value in options.items():
            if key not in Instance.__dataclass_fields__ or key in _NOT_OPTIONS:
                raise ValueError(f"unknown instance option {key!r}")
            if key == "state" and value not in STATES:
                raise ValueError(f"state must be one of {', '.join(STATES)}")
            if key == "webhook_acks" and not set(value) <= set(ACKS):
                raise ValueError(f"webhook_acks must be among {', '.join(ACKS)}")
            setattr(instance, key, value)

    def remove_instance(self, name: str) -> bool:
        with self.lock:
            return self.instances.pop(name, None) is not None

    def authorised(self, instance: Instance | None, apikey: str | None) -> bool:
        if not apikey:
            return False
        if self.global_api_key is not None and secrets.compare_digest(apikey, self.global_api_key):
            return True
        return instance is not None and secrets.compare_digest(apikey, instance.token)

    # --- scripted behaviour ---------------------------------------------------------------------------

    def script_failures(self, instance: str | None, failures: list[ScriptedFailure]) -> None:
        with self.lock:
            target = self.instances[instance].failures if instance else self.global_failures
            target.extend(failures)

    def next_failure(self, instance: Instance) -> ScriptedFailure | None:
        with self.lock:
            if instance.failures:
                return instance.failures.popleft()
            if self.global_failures:
                return self.global_failures.popleft()
            return None

    def set_latency(self, ms: int, instance: str | None = None, *, jitter_ms: int = 0) -> None:
        """Hold every send ``ms`` (plus or minus up to ``jitter_ms``, global only) before answering."""
        with self.lock:
            if instance:
                self.instances[instance].latency_ms = ms
            else:
                self.latency_ms = ms
                self.latency_jitter_ms = max(0, jitter_ms)

    def hold_ms(self, instance: Instance, delay_ms: int) -> float:
        jitter = self.latency_jitter_ms
        spread = random.uniform(-jitter, jitter) if jitter else 0.0
        return max(0.0, self.latency_ms + spread) + instance.latency_ms + max(0, delay_ms)

    def mark_numbers(self, numbers: list[str], *, on_whatsapp: bool) -> None:
        with self.lock:
            if on_whatsapp:
                self.not_on_whatsapp.difference_update(numbers)
            else:
                self.not_on_whatsapp.update(numbers)

    def exists(self, number: str) -> bool:
        if "@" in number:
            return (
                not number.endswith("@s.whatsapp.net") or number.split("@", maxsplit=1)[0] not in self.not_on_whatsapp
            )
        return 8 <= len(number) <= 15 and number not in self.not_on_whatsapp

    # --- messages ----------------------------------------------------------------------------------

    def record(
        self, instance: str, number: str, text: str, delay_ms: int, *, arrived_wall: float | None = None
    ) -> Message:
        jid = number if "@" in number else f"{number}@s.whatsapp.net"
        now = time.time()
        message = Message(
            instance, number, jid, text, new_message_id(), time.monotonic(), now, delay_ms, arrived_wall or now
        )
        with self.lock:
            self.messages.append(message)
            self.known_numbers.add(number)
        return message

    def list_messages(self, instance: str | None = None) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if instance is None or m.instance == instance]

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.webhook_log.clear()
            self.send_requests = 0
            for instance in self.instances.values():
                instance.send_requests = 0
                instance.state_requests = 0

    def reset(self) -> None:
        """Forget everything except the global key and the default webhook URL."""
        with self.lock:
            self.instances.clear()
            self.messages.clear()
            self.not_on_whatsapp.clear()
            self.known_numbers.clear()
            self.global_failures.clear()
            self.webhook_log.clear()
            self.latency_ms = 0
            self.latency_jitter_ms = 0
            self.send_requests = 0
