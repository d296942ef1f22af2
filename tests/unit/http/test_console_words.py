"""How the console words a queue's reason for not sending, in the tenant's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from billing.http.console.words import local, number, percent, queue_reason

SP = "America/Sao_Paulo"
MONDAY_8H_SP = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)  # 08:00 in São Paulo (UTC-3), a Monday


@pytest.mark.parametrize(
    ("status", "reason", "resume_at", "words"),
    [
        ("paused_business_hours", "business_hours", MONDAY_8H_SP, "fora do horário comercial até 08:00 de segunda"),
        ("paused_business_hours", None, None, "fora do horário comercial"),
        (
            "paused_business_hours",
            "daily_cap: the instance reached its daily cap of 500 messages",
            datetime(2026, 12, 2, 3, 0, tzinfo=UTC),
            "o número atingiu o limite diário; volta às 00:00 de quarta",
        ),
        (
            "instance_down",
            "instance_down: auth_failed: the gateway refused this instance's API key; set it with billing instance"
            " update --api-key",
            None,
            "o gateway recusou a chave da instância: atualize a chave em Instâncias",
        ),
        (
            "instance_down",
            "instance_down: the gateway reported it closed",
            None,
            "o número de WhatsApp está desconectado; a fila volta sozinha quando ele reconectar",
        ),
        ("paused", "paused by an operator", None, "pausada por um operador"),
        ("paused", "paused through the control API", None, "pausada pelo ERP (API)"),
        ("running", None, None, ""),
    ],
)
def test_a_reason_in_words(status: str, reason: str | None, resume_at: datetime | None, words: str) -> None:
    assert queue_reason(status, reason, resume_at, None, SP) == words


def test_a_scheduled_queue_says_when_in_the_tenants_zone() -> None:
    assert queue_reason("scheduled", None, None, MONDAY_8H_SP, SP) == "agendada para 30/11 08:00"


def test_numbers_and_times_read_the_brazilian_way() -> None:
    assert number(1234567) == "1.234.567"
    assert local(None) == "—"
    assert local("2026-11-30T11:00:00+00:00", SP) == "30/11 08:00"
    assert percent(1, 3) == 33
    assert percent(0, 0) == 100
