"""RabbitMQ topology: the one place that names the queues and their arguments.

Both the synchronous publisher (pika) and the connector (aio-pika) declare through this module, so a
queue is never declared twice with different arguments (RabbitMQ refuses that with PRECONDITION_FAILED).
Every name derives from a prefix (``BILLING_BROKER_QUEUE_PREFIX``, default ``billing``) so tests and
parallel environments can share one broker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from billing.domain.states import TemplateType

if TYPE_CHECKING:
    from collections.abc import Iterator

MAX_PRIORITY = 10
DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True, slots=True)
class QueueNames:
    """The six work queues of one prefix; every one has a ``<name>.dlq`` twin."""

    prefix: str
    overdue: str
    upcoming: str
    notification: str
    resume: str
    check_recovery: str
    events: str

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.prefix}.dlx"

    @property
    def sender(self) -> tuple[str, ...]:
        """Queues whose tokens wake the sender function."""
        return (self.overdue, self.upcoming, self.notification, self.resume)

    @property
    def sweeper(self) -> tuple[str, ...]:
        """Queues whose tokens wake the sweeper function."""
        return (self.check_recovery,)

    @property
    def deliverer(self) -> tuple[str, ...]:
        """Queues whose tokens wake the deliverer function (ERP webhooks)."""
        return (self.events,)

    @property
    def work(self) -> tuple[str, ...]:
        return self.sender + self.sweeper + self.deliverer

    def __iter__(self) -> Iterator[str]:
        return iter(self.work)

    @staticmethod
    def dead_letter(queue: str) -> str:
        return queue + DLQ_SUFFIX


def _prefix(prefix: str | None) -> str:
    if prefix is None:
        from billing.config import get_settings

        prefix = get_settings().broker_queue_prefix
    return prefix


def queue_names(prefix: str | None = None) -> QueueNames:
    """Queue names for ``prefix`` (default: the configured prefix)."""
    p = _prefix(prefix)
    return QueueNames(
        prefix=p,
        overdue=f"{p}.overdue",
        upcoming=f"{p}.upcoming",
        notification=f"{p}.notification",
        resume=f"{p}.resume",
        check_recovery=f"{p}.check_recovery",
        events=f"{p}.events",
    )


def queue_for_type(template_type: TemplateType | str, prefix: str | None = None) -> str:
    """The queue that carries first tokens of a queue of ``template_type``."""
    names = queue_names(prefix)
    return {
        TemplateType.OVERDUE: names.overdue,
        TemplateType.UPCOMING: names.upcoming,
        TemplateType.NOTIFICATION: names.notification,
    }[TemplateType(template_type)]


def work_queue_arguments(queue: str, names: QueueNames) -> dict[str, Any]:
    """Arguments of a work queue. Classic because quorum queues ignore ``x-max-priority``."""
    return {
        "x-queue-type": "classic",
        "x-max-priority": MAX_PRIORITY,
        "x-dead-letter-exchange": names.dead_letter_exchange,
        "x-dead-letter-routing-key": names.dead_letter(queue),
    }


def dead_letter_queue_arguments() -> dict[str, Any]:
    return {"x-queue-type": "classic"}


def declare_topology(channel: Any, prefix: str | None = None) -> QueueNames:
    """Declare exchanges, queues and bindings on a pika ``BlockingChannel``. Idempotent."""
    names = queue_names(prefix)
    dlx = names.dead_letter_exchange
    channel.exchange_declare(exchange=dlx, exchange_type="direct", durable=True)
    for queue in names.work:
        dlq = names.dead_letter(queue)
        channel.queue_declare(queue=dlq, durable=True, arguments=dead_letter_queue_arguments())
        channel.queue_bind(queue=dlq, exchange=dlx, routing_key=dlq)
        channel.queue_declare(queue=queue, durable=True, arguments=work_queue_arguments(queue, names))
    return names


async def declare_topology_async(channel: Any, prefix: str | None = None) -> QueueNames:
    """Declare the same topology on an aio-pika channel. Idempotent."""
    import aio_pika

    names = queue_names(prefix)
    dlx = await channel.declare_exchange(names.dead_letter_exchange, aio_pika.ExchangeType.DIRECT, durable=True)
    for queue in names.work:
        dlq = names.dead_letter(queue)
        dead = await channel.declare_queue(dlq, durable=True, arguments=dead_letter_queue_arguments())
        await dead.bind(dlx, routing_key=dlq)
        await channel.declare_queue(queue, durable=True, arguments=work_queue_arguments(queue, names))
    return names
