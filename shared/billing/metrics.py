"""Prometheus metrics. Totals and gauges are computed from PostgreSQL at scrape time, so a function
scaled to zero loses nothing; only the send-duration histogram and outcome counters are per replica.

Metric names follow the seed: ``billing_messages_sent_total{tenant_id,template_type,status}``,
``billing_send_duration_seconds{tenant_id,template_type,instance_id}``,
``billing_active_queues{tenant_id,status}``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_TOTALS_SQL = """
SELECT tenant_id::text, template_type, sum(sent), sum(failed), sum(cancelled), sum(unknown), sum(expired),
       sum(skipped)
FROM billing_queues GROUP BY tenant_id, template_type
"""
_ACTIVE_SQL = """
SELECT tenant_id::text, status, count(*) FROM billing_queues
WHERE status IN ('pending', 'scheduled', 'running', 'paused', 'paused_business_hours', 'instance_down')
GROUP BY tenant_id, status
"""
_STATUSES = ("sent", "failed", "cancelled", "unknown", "expired", "skipped")

_lock = threading.Lock()
_registry: CollectorRegistry | None = None
_connector_registry: CollectorRegistry | None = None
_local: dict[str, Any] = {}


class _DatabaseCollector:
    """Reads the queue counters when Prometheus scrapes."""

    def collect(self) -> Iterator[Any]:
        import sqlalchemy as sa
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        from billing.db.engine import get_engine

        labels = ["tenant_id", "template_type", "status"]
        sent = CounterMetricFamily("billing_messages_sent", "Billing messages by final outcome", labels=labels)
        active = GaugeMetricFamily("billing_active_queues", "Queues not yet finished", labels=["tenant_id", "status"])
        with get_engine().connect() as conn:
            for row in conn.execute(sa.text(_TOTALS_SQL)):
                for status, value in zip(_STATUSES, row[2:], strict=True):
                    sent.add_metric([row[0], row[1], status], float(value or 0))
            for tenant_id, status, count in conn.execute(sa.text(_ACTIVE_SQL)):
                active.add_metric([tenant_id, status], float(count))
        yield sent
        yield active


def _get_registry() -> CollectorRegistry:
    global _registry
    with _lock:
        if _registry is None:
            from prometheus_client import CollectorRegistry, Counter, Histogram

            registry = CollectorRegistry()
            _local["duration"] = Histogram(
                "billing_send_duration_seconds",
                "Time the gateway took to answer one send (this replica)",
                ["tenant_id", "template_type", "instance_id"],
                buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
                registry=registry,
            )
            _local["outcomes"] = Counter(
                "billing_sender_outcomes",
                "Send outcomes seen by this replica",
                ["template_type", "outcome"],
                registry=registry,
            )
            _local["auth_failures"] = Counter(
                "billing_gateway_auth_failures",
                "Times the gateway refused an instance's API key (this replica)",
                ["instance_id"],
                registry=registry,
            )
            registry.register(_DatabaseCollector())  # type: ignore[arg-type]
            _registry = registry
        return _registry


def observe_send_duration(seconds: float, *, tenant_id: str, template_type: str, instance_id: str) -> None:
    """One gateway call's duration, by tenant, reminder type and WhatsApp instance (one series per
    instance and type: an instance belongs to one tenant)."""
    _get_registry()
    _local["duration"].labels(tenant_id=tenant_id, template_type=template_type, instance_id=instance_id).observe(
        seconds
    )


def record_sent(tenant_id: str, template_type: str, status: str) -> None:
    """Count one send outcome on this replica (the durable per-tenant totals come from Postgres)."""
    del tenant_id  # per-tenant totals are exported from the database, not per replica
    _get_registry()
    _local["outcomes"].labels(template_type=template_type, outcome=status).inc()


def record_auth_failure(instance_id: str) -> None:
    """Count one refusal of an instance's API key (a 401/403 on a send or a health check)."""
    _get_registry()
    _local["auth_failures"].labels(instance_id=instance_id).inc()


def render() -> bytes:
    """The exposition text for ``GET /metrics``."""
    from prometheus_client import generate_latest

    return bytes(generate_latest(_get_registry()))


def _get_connector_registry() -> CollectorRegistry:
    """The connector's own counters only: the database totals are exported by the functions, and a
    second exporter of them would double every series."""
    global _connector_registry
    with _lock:
        if _connector_registry is None:
            from prometheus_client import CollectorRegistry, Counter

            registry = CollectorRegistry()
            _local["deliveries"] = Counter(
                "billing_connector_deliveries",
                "Tokens the connector handed to a function, by what became of them",
                ["queue", "outcome"],
                registry=registry,
            )
            _connector_registry = registry
        return _connector_registry


def record_delivery(queue: str, outcome: str) -> None:
    """``outcome``: acked, redelivered or dead_lettered."""
    _get_connector_registry()
    _local["deliveries"].labels(queue=queue, outcome=outcome).inc()


def render_connector() -> bytes:
    from prometheus_client import generate_latest

    return bytes(generate_latest(_get_connector_registry()))
