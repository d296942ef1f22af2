"""GET /metrics: totals and gauges read from PostgreSQL, so a replica scaled to zero loses nothing."""

from __future__ import annotations

from typing import Any

import pytest
from billing import metrics
from support.factories import make_queue, make_world
from support.ops_factories import client, set_queue


@pytest.mark.parametrize("function", ["status", "sender"])
def test_metrics_report_message_totals_and_active_queues_from_the_database(db: Any, function: str) -> None:
    world = make_world(db, gateway_url="http://127.0.0.1:9")
    done = make_queue(db, world, 3, template_type="overdue")
    set_queue(str(done), status="completed", sent=2, failed=1)
    make_queue(db, world, 4, template_type="notification")  # still pending
    metrics.observe_send_duration(
        0.2, tenant_id=str(world.tenant_id), template_type="overdue", instance_id=str(world.instance_id)
    )

    answer = client(function).get("/metrics")

    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain")
    text = answer.get_data(as_text=True)
    tenant = str(world.tenant_id)
    assert f'billing_messages_sent_total{{status="sent",template_type="overdue",tenant_id="{tenant}"}} 2.0' in text
    assert f'billing_messages_sent_total{{status="failed",template_type="overdue",tenant_id="{tenant}"}} 1.0' in text
    assert f'billing_active_queues{{status="pending",tenant_id="{tenant}"}} 1.0' in text
    labels = f'instance_id="{world.instance_id}",template_type="overdue",tenant_id="{tenant}"'
    assert f"billing_send_duration_seconds_count{{{labels}}} 1.0" in text


def test_metrics_without_a_database_answer_503_not_500(monkeypatch: pytest.MonkeyPatch) -> None:
    from billing.config import reset_settings_cache
    from billing.db.engine import dispose_engine

    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    reset_settings_cache()
    dispose_engine()
    try:
        answer = client("status").get("/metrics")
        assert answer.status_code == 503
        assert answer.content_type == "application/problem+json"
    finally:
        dispose_engine()
        reset_settings_cache()
