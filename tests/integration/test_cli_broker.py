from __future__ import annotations

import json

import pika
import pytest
from billing.cli import main
from support.rabbit import RABBITMQ_URL


def test_broker_declare_creates_every_work_and_dead_letter_queue(
    broker_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["broker", "declare"]) == 0
    declared = json.loads(capsys.readouterr().out)["declared"]
    assert f"{broker_prefix}.overdue" in declared and f"{broker_prefix}.check_recovery.dlq" in declared
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        channel = connection.channel()
        for name in declared:
            channel.queue_declare(queue=name, passive=True)  # raises if the queue does not exist
    finally:
        connection.close()
    assert main(["broker", "declare"]) == 0  # idempotent


def test_broker_declare_without_a_broker_url_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from billing.config import reset_settings_cache

    monkeypatch.setenv("RABBITMQ_URL", "")
    reset_settings_cache()
    assert main(["broker", "declare"]) == 2
    assert "RABBITMQ_URL" in capsys.readouterr().err
    reset_settings_cache()
