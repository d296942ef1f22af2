from __future__ import annotations

import pytest
from billing.config import load_settings
from billing.errors import ConfigurationError


def test_defaults_are_valid_without_any_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DATABASE_URL", "RABBITMQ_URL", "BILLING_SECRET_KEY", "BILLING_ENV"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings()
    assert settings.database_url.startswith("postgresql")
    assert settings.uses_dev_secret


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("DATABASE_URL", "mysql://x", "DATABASE_URL must be a postgresql"),
        ("RABBITMQ_URL", "http://x", "RABBITMQ_URL must be an amqp"),
        ("BILLING_SECRET_KEY", "short", "at least 16 characters"),
        ("BILLING_LOG_LEVEL", "LOUD", "unknown log level"),
        ("BILLING_DB_POOL_SIZE", "0", "BILLING_DB_POOL_SIZE"),
        ("BILLING_WEBHOOK_RETRY_SCHEDULE", "0,5,soon", "a retry schedule is seconds"),
    ],
)
def test_bad_settings_fail_fast_with_a_message_naming_the_problem(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, message: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigurationError, match=message):
        load_settings()


def test_production_refuses_the_development_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLING_SECRET_KEY", raising=False)
    monkeypatch.setenv("BILLING_ENV", "production")
    with pytest.raises(ConfigurationError, match="BILLING_SECRET_KEY must be set"):
        load_settings()


def test_an_empty_rabbitmq_url_means_no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RABBITMQ_URL", "")
    assert load_settings().rabbitmq_url is None


def test_trusted_proxies_are_networks_and_the_retired_count_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8")
    assert [str(n) for n in load_settings().trusted_networks] == ["10.0.0.0/8", "fd00::/8"]
    monkeypatch.setenv("BILLING_TRUSTED_PROXIES", "10.0.0.0/8,not-a-network")
    with pytest.raises(ConfigurationError, match="not-a-network"):
        load_settings()
    monkeypatch.setenv("BILLING_TRUSTED_PROXIES", "")
    monkeypatch.setenv("BILLING_TRUSTED_PROXY_COUNT", "2")
    with pytest.raises(ConfigurationError, match="BILLING_TRUSTED_PROXIES"):
        load_settings()


def test_production_keeps_the_internal_doors_closed_by_tokens_or_by_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BILLING_ENV", "production")
    monkeypatch.setenv("BILLING_SECRET_KEY", "p" * 32)
    with pytest.raises(ConfigurationError, match="BILLING_TRIGGER_TOKEN and BILLING_METRICS_TOKEN must be set"):
        load_settings()
    monkeypatch.setenv("BILLING_TRIGGER_TOKEN", "t" * 32)
    monkeypatch.setenv("BILLING_METRICS_TOKEN", "m" * 32)
    assert load_settings().internal_auth == "token"
    monkeypatch.delenv("BILLING_TRIGGER_TOKEN")
    monkeypatch.delenv("BILLING_METRICS_TOKEN")
    monkeypatch.setenv("BILLING_INTERNAL_AUTH", "network")  # Knative, plain Kubernetes with policies
    assert load_settings().internal_auth == "network"


def test_the_webhook_retry_schedule_can_be_shortened_for_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().webhook_retry_delays == (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    monkeypatch.setenv("BILLING_WEBHOOK_RETRY_SCHEDULE", "0, 0.1, 0.5")
    assert load_settings().webhook_retry_delays == (0, 0.1, 0.5)
