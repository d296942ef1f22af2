"""The one settings object. Nothing else in the code base reads ``os.environ``."""

from __future__ import annotations

import functools
import ipaddress
import logging
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from billing.errors import ConfigurationError, InvalidValueError

DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/billing"
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
# A development-only key; production deployments must set their own (see README).
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105


class Settings(BaseSettings):
    """Environment configuration, validated once per process."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str = Field(default=DEFAULT_DATABASE_URL, alias="DATABASE_URL")
    rabbitmq_url: str | None = Field(default=DEFAULT_RABBITMQ_URL, alias="RABBITMQ_URL")
    billing_secret_key: SecretStr = Field(default=SecretStr(DEV_SECRET_KEY), alias="BILLING_SECRET_KEY")
    environment: Literal["development", "test", "production"] = Field(
        default="development", alias="BILLING_ENV"
    )
    log_level: str = Field(default="INFO", alias="BILLING_LOG_LEVEL")
    log_format: str = Field(default="json", alias="BILLING_LOG_FORMAT")
    db_pool_size: int = Field(default=3, ge=1, le=50, alias="BILLING_DB_POOL_SIZE")
    db_max_overflow: int = Field(default=2, ge=0, le=50, alias="BILLING_DB_MAX_OVERFLOW")
    db_statement_timeout_ms: int = Field(default=15_000, ge=100, alias="BILLING_DB_STATEMENT_TIMEOUT_MS")
    function_budget_s: float = Field(default=240.0, gt=0, alias="BILLING_FUNCTION_BUDGET_S")
    sweeper_budget_s: float = Field(default=50.0, gt=0, alias="BILLING_SWEEPER_BUDGET_S")
    # The longest a claimed contact may stay ``sending`` before the sweeper reports it ``unknown``: above
    # a send and a health check (connect + read timeout each) plus the minute outcomes wait for the
    # database (RECORD_PATIENCE_S).
    lease_s: float = Field(default=150.0, gt=0, alias="BILLING_LEASE_S")
    # Gateway calls one sender invocation makes at once, each to a different instance's due slot.
    sender_concurrency: int = Field(default=64, ge=1, le=256, alias="BILLING_SENDER_CONCURRENCY")
    health_check_interval_s: float = Field(default=30.0, gt=0, alias="BILLING_HEALTH_CHECK_INTERVAL_S")
    max_attempts: int = Field(default=5, ge=1, le=50, alias="BILLING_MAX_ATTEMPTS")
    retry_base_s: float = Field(default=30.0, gt=0, alias="BILLING_RETRY_BASE_S")
    retry_max_s: float = Field(default=1800.0, gt=0, alias="BILLING_RETRY_MAX_S")
    max_inline_wait_s: float = Field(default=20.0, ge=0, alias="BILLING_MAX_INLINE_WAIT_S")
    # 10,000 realistic contacts (name, amount, invoice, payment link, PIX code, two variables) are about
    # 4.7 MB of JSON; 6 MiB leaves room without letting one request take much more memory than that.
    max_body_bytes: int = Field(default=6 * 1024 * 1024, ge=1024, alias="BILLING_MAX_BODY_BYTES")
    # The proxies in front of the functions (ingress, load balancer) as CIDRs, comma-separated: the
    # client is the first X-Forwarded-For address, from the right, that is not one of them.
    trusted_proxies: str = Field(default="", alias="BILLING_TRUSTED_PROXIES")
    # Replaced by BILLING_TRUSTED_PROXIES; refused when set, so an old deployment fails loudly instead
    # of rate-limiting every client under its proxy's address.
    retired_trusted_proxy_count: str | None = Field(default=None, alias="BILLING_TRUSTED_PROXY_COUNT")
    ip_rate_limit_per_minute: int = Field(default=600, ge=1, alias="BILLING_IP_RATE_LIMIT_PER_MINUTE")
    # The live event stream (GET /api/v1/billing/events): open streams per API key in one process, the
    # heartbeat that keeps proxies from closing an idle stream, the longest a stream stays open before
    # the client is told to reconnect (with Last-Event-ID it misses nothing), and how often a process
    # looks for events whose notification it missed.
    events_streams_per_key: int = Field(default=5, ge=1, le=100, alias="BILLING_EVENTS_STREAMS_PER_KEY")
    # Open streams in one process: keep it below the server's threads (gunicorn --threads 100).
    events_max_streams: int = Field(default=80, ge=1, le=10_000, alias="BILLING_EVENTS_MAX_STREAMS")
    events_heartbeat_s: float = Field(default=15.0, gt=0, le=300, alias="BILLING_EVENTS_HEARTBEAT_S")
    events_max_stream_s: float = Field(default=3600.0, gt=0, alias="BILLING_EVENTS_MAX_STREAM_S")
    events_poll_s: float = Field(default=1.0, gt=0, le=60, alias="BILLING_EVENTS_POLL_S")
    gateway_connect_timeout_s: float = Field(default=5.0, gt=0, alias="BILLING_GATEWAY_CONNECT_TIMEOUT_S")
    gateway_read_timeout_s: float = Field(default=30.0, gt=0, alias="BILLING_GATEWAY_READ_TIMEOUT_S")
    gateway_typing_delay_ms: int = Field(default=0, ge=0, le=20_000, alias="BILLING_GATEWAY_TYPING_DELAY_MS")
    broker_prefetch: int = Field(default=4, ge=1, le=1000, alias="BILLING_BROKER_PREFETCH")
    broker_max_redeliveries: int = Field(default=5, ge=0, le=100, alias="BILLING_BROKER_MAX_REDELIVERIES")
    broker_queue_prefix: str = Field(default="billing", alias="BILLING_BROKER_QUEUE_PREFIX")
    pacing_disabled: bool = Field(default=False, alias="BILLING_PACING_DISABLED")
    # ERP webhooks (docs/events.md): the retry schedule in seconds (Standard Webhooks' by default; tests
    # shorten it), how long an endpoint may fail before it is disabled, one POST's timeout, and how long
    # one deliverer invocation works before it hands on.
    webhook_retry_schedule: str = Field(
        default="0,5,300,1800,7200,18000,36000,50400,72000,86400", alias="BILLING_WEBHOOK_RETRY_SCHEDULE"
    )
    webhook_disable_after_s: float = Field(default=5 * 86400.0, gt=0, alias="BILLING_WEBHOOK_DISABLE_AFTER_S")
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60, alias="BILLING_WEBHOOK_TIMEOUT_S")
    deliverer_budget_s: float = Field(default=50.0, gt=0, alias="BILLING_DELIVERER_BUDGET_S")
    # `billing dev` only: a real Evolution API instead of the simulator.
    dev_gateway_url: str | None = Field(default=None, alias="BILLING_DEV_GATEWAY_URL")
    # Shared secrets of the internal doors. With a trigger token, the sender and sweeper answer only
    # callers presenting it (the connector does); with a metrics token, /metrics needs it as a bearer.
    # In production a gateway must be reached over https unless this says it lives inside the cluster.
    allow_http_gateway: bool = Field(default=False, alias="BILLING_ALLOW_HTTP_GATEWAY")
    # How the internal doors (sender, sweeper, /metrics) are kept private in production: "token" (the
    # default: both tokens required, e.g. OpenFaaS, whose gateway publishes every function) or "network"
    # (the platform keeps them private: Knative cluster-local Services, NetworkPolicies).
    internal_auth: Literal["token", "network"] = Field(default="token", alias="BILLING_INTERNAL_AUTH")
    trigger_token: SecretStr | None = Field(default=None, alias="BILLING_TRIGGER_TOKEN")
    metrics_token: SecretStr | None = Field(default=None, alias="BILLING_METRICS_TOKEN")
    dev_gateway_api_key: SecretStr = Field(default=SecretStr(""), alias="BILLING_DEV_GATEWAY_API_KEY")
    dev_data_dir: str | None = Field(default=None, alias="BILLING_DEV_DATA_DIR")
    # A fixed port, so gateway instances an operator points at the simulator survive a restart.
    dev_simulator_port: int = Field(default=8089, ge=0, le=65535, alias="BILLING_DEV_SIMULATOR_PORT")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgresql+psycopg2://", "postgres://")):
            raise ValueError("DATABASE_URL must be a postgresql:// URL")
        if value.startswith("postgres://"):
            value = "postgresql://" + value[len("postgres://") :]
        return value

    @field_validator("rabbitmq_url")
    @classmethod
    def _amqp_only(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("amqp://", "amqps://")):
            raise ValueError("RABBITMQ_URL must be an amqp:// or amqps:// URL")
        return value

    @field_validator("billing_secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        keys = [k.strip() for k in value.get_secret_value().split(",")]
        if not keys or any(len(k) < 16 for k in keys):
            raise ValueError("BILLING_SECRET_KEY must be at least 16 characters (each key, when several are listed)")
        return value

    @field_validator("trigger_token", "metrics_token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        # Several tokens, comma-separated, during a rotation: the first is sent, any is accepted.
        if any(len(token.strip()) < 24 for token in value.get_secret_value().split(",")):
            raise ValueError("each token must be at least 24 characters (e.g. `openssl rand -base64 32`)")
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        from billing.domain.webhooks import parse_schedule

        try:
            parse_schedule(value)
        except InvalidValueError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @property
    def webhook_retry_delays(self) -> tuple[float, ...]:
        from billing.domain.webhooks import parse_schedule

        return parse_schedule(self.webhook_retry_schedule)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for cidr in filter(None, (c.strip() for c in value.split(","))):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"BILLING_TRUSTED_PROXIES: {cidr!r} is not an address or network") from exc
        return value

    @model_validator(mode="after")
    def _no_retired_proxy_count(self) -> Settings:
        if self.retired_trusted_proxy_count is not None:
            raise ValueError(
                "BILLING_TRUSTED_PROXY_COUNT was replaced by BILLING_TRUSTED_PROXIES (the proxies' networks, "
                "e.g. 10.0.0.0/8)"
            )
        return self

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return _parse_networks(self.trusted_proxies)

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> Settings:
        if self.environment == "production" and self.uses_dev_secret:
            raise ValueError("BILLING_SECRET_KEY must be set when BILLING_ENV=production")
        return self

    @model_validator(mode="after")
    def _internal_doors_closed_in_production(self) -> Settings:
        if self.environment == "production" and self.internal_auth == "token":
            tokens = {"BILLING_TRIGGER_TOKEN": self.trigger_token, "BILLING_METRICS_TOKEN": self.metrics_token}
            missing = [name for name, value in tokens.items() if value is None]
            if missing:
                raise ValueError(
                    f"{' and '.join(missing)} must be set in production, or BILLING_INTERNAL_AUTH=network where "
                    "the platform keeps the sender, the sweeper and /metrics private"
                )
        return self

    @model_validator(mode="after")
    def _no_placeholder_in_production(self) -> Settings:
        # The example manifests say CHANGE-ME; applied as they are, production must not start.
        if self.environment != "production":
            return self
        values = {
            "BILLING_SECRET_KEY": self.billing_secret_key.get_secret_value(),
            "BILLING_TRIGGER_TOKEN": self.trigger_token.get_secret_value() if self.trigger_token else "",
            "BILLING_METRICS_TOKEN": self.metrics_token.get_secret_value() if self.metrics_token else "",
            "DATABASE_URL": self.database_url,
            "RABBITMQ_URL": self.rabbitmq_url or "",
        }
        placeholders = [name for name, value in values.items() if "change-me" in value.lower().replace("_", "-")]
        if placeholders:
            raise ValueError(f"{', '.join(placeholders)} still hold the example's CHANGE-ME placeholder")
        return self

    @property
    def uses_dev_secret(self) -> bool:
        return DEV_SECRET_KEY in [k.strip() for k in self.billing_secret_key.get_secret_value().split(",")]


@functools.lru_cache(maxsize=8)
def _parse_networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in value.split(",") if c.strip())


def load_settings() -> Settings:
    """Build settings from the environment, turning validation errors into one clear message."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from exc


@functools.cache
def get_settings() -> Settings:
    settings = load_settings()
    if settings.uses_dev_secret:
        logging.getLogger(__name__).warning(
            "BILLING_SECRET_KEY is not set; using the development key", extra={"action": "config.dev_secret"}
        )
    return settings


def reset_settings_cache() -> None:
    """Forget the cached settings (tests that change the environment call this)."""
    get_settings.cache_clear()


def env_is_set(name: str) -> bool:
    """Whether the operator configured ``name`` (``billing dev`` picks embedded defaults otherwise)."""
    import os

    return bool(os.environ.get(name))


def override_environment(**values: str) -> None:
    """Set configuration for this process and forget cached settings (``billing dev`` only)."""
    import os

    for key, value in values.items():
        os.environ[key] = value
    reset_settings_cache()
