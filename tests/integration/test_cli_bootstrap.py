"""What the bootstrap Job of deploy/ relies on: ``--if-missing``, secrets named by environment variable, and
``billing wait``; against the real PostgreSQL (and RabbitMQ for ``wait``)."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
import uuid
from typing import Any

import psycopg2
import pytest
from billing.cli import main
from billing.config import get_settings, reset_settings_cache
from billing.crypto import decrypt_secret, hash_api_key, hash_webhook_secret
from billing.db.engine import dispose_engine
from support.ops_factories import client
from support.rabbit import RABBITMQ_URL

GATEWAY_KEY = "evolution-instance-token-0123"
WEBHOOK_SECRET = secrets.token_urlsafe(32)
API_KEY = f"bk_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
SECRETS = (GATEWAY_KEY, WEBHOOK_SECRET, API_KEY)

TENANT = ("tenant", "create", "acme", "--if-missing")
INSTANCE = (
    "instance", "add", "--tenant", "acme", "--name", "loja", "--url", "https://evo.test",
    "--gateway-instance", "loja-evo", "--default", "--if-missing",
    "--api-key-from-env", "BOOT_GATEWAY_KEY", "--webhook-secret-from-env", "BOOT_WEBHOOK_SECRET",
)  # fmt: skip
API_KEY_CREATE = ("apikey", "create", "--tenant", "acme", "--name", "erp", "--if-missing", "--key-from-env", "BOOT_KEY")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    for secret in SECRETS:  # never printed, not even in an error
        assert secret not in out and secret not in err, argv
    return code, (json.loads(out) if out.strip() else None), err


def query(url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            rows: list[tuple[Any, ...]] = cur.fetchall()
            return rows
    finally:
        conn.close()


def counts(url: str) -> tuple[Any, ...]:
    return query(
        url,
        "SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM whatsapp_instances), "
        "(SELECT count(*) FROM api_keys), (SELECT count(*) FROM templates)",
    )[0]


@pytest.fixture
def boot_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The Job's environment: the three secrets of the Secret billing-bootstrap."""
    monkeypatch.setenv("BOOT_GATEWAY_KEY", GATEWAY_KEY)
    monkeypatch.setenv("BOOT_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("BOOT_KEY", API_KEY)
    return database_url


def bootstrap(capsys: pytest.CaptureFixture[str]) -> list[Any]:
    answers = []
    for argv in (TENANT, INSTANCE, API_KEY_CREATE):
        code, answer, err = run(capsys, *argv)
        assert code == 0, err
        answers.append(answer)
    return answers


def test_the_bootstrap_run_twice_creates_each_object_once_from_the_secrets_and_prints_none_of_them(
    boot_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant, inst, key = bootstrap(capsys)
    assert [tenant["created"], inst["created"], key["created"]] == [True, True, True]
    assert "webhook_secret" not in inst and "key" not in key
    assert inst["webhook_path"] == f"/api/v1/billing/webhook/evolution/{inst['id']}"
    after_first = counts(boot_env)
    assert after_first[:3] == (1, 1, 1)

    again = bootstrap(capsys)
    assert [a["created"] for a in again] == [False, False, False]
    assert [a["id"] for a in again] == [tenant["id"], inst["id"], key["id"]]
    assert again[1]["webhook_path"] == inst["webhook_path"]  # the gateway's URL can be read from any run
    assert counts(boot_env) == after_first  # no duplicate, not even of the default templates

    [(stored_key, secret_hash)] = query(
        boot_env, "SELECT api_key_encrypted, webhook_secret_hash FROM whatsapp_instances"
    )
    assert decrypt_secret(stored_key, secret_key=get_settings().billing_secret_key.get_secret_value()) == GATEWAY_KEY
    assert secret_hash == hash_webhook_secret(WEBHOOK_SECRET)
    assert query(boot_env, "SELECT prefix, key_hash FROM api_keys")[0] == (API_KEY.split("_")[1], hash_api_key(API_KEY))

    # The ERP's key from the Secret works at the API; the gateway's webhook secret works at the webhook.
    inbox = client("status").get("/api/v1/billing/conversations", headers={"X-Billing-API-Key": API_KEY})
    assert inbox.status_code == 200, inbox.get_json()
    event = client("webhook").post(
        inst["webhook_path"], json={"event": "ping"}, headers={"X-Billing-Webhook-Secret": WEBHOOK_SECRET}
    )
    assert event.status_code == 200 and event.get_json()["status"] == "ignored"


def test_without_if_missing_the_answers_are_unchanged_and_a_second_create_is_still_refused(
    boot_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, tenant, _ = run(capsys, "tenant", "create", "acme")
    assert code == 0 and "created" not in tenant
    assert run(capsys, "tenant", "create", "acme")[0] == 2


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (INSTANCE, {"BOOT_GATEWAY_KEY": "a-rotated-token"}, "API key"),
        (INSTANCE, {"BOOT_WEBHOOK_SECRET": "w" * 40}, "webhook secret"),
        ((*INSTANCE[:7], "https://evo2.test", *INSTANCE[8:]), {}, "URL"),
        (API_KEY_CREATE, {"BOOT_KEY": f"bk_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"}, "another value"),
    ],
    ids=["gateway-key", "webhook-secret", "url", "api-key"],
)
def test_if_missing_refuses_an_existing_object_that_is_not_the_one_asked_for(
    boot_env: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
    env: dict[str, str],
    named: str,
) -> None:
    """Reported as done, a changed Secret would leave the gateway or the ERP failing: exit 2, names only."""
    bootstrap(capsys)
    before = query(boot_env, "SELECT * FROM whatsapp_instances"), query(boot_env, "SELECT * FROM api_keys")
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out is None and named in err
    assert all(value not in err for value in env.values())
    assert (query(boot_env, "SELECT * FROM whatsapp_instances"), query(boot_env, "SELECT * FROM api_keys")) == before


def test_if_missing_refuses_a_revoked_key_rather_than_report_it_usable(
    boot_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bootstrap(capsys)
    assert run(capsys, "apikey", "revoke", "--tenant", "acme", "--name", "erp")[0] == 0
    code, _, err = run(capsys, *API_KEY_CREATE)
    assert code == 2 and "revoked" in err


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        (None, "BOOT_KEY is not set or empty"),
        ("  ", "BOOT_KEY is not set or empty"),
        ("bk_0123abcd_CHANGE-ME-to-a-generated-key-of-43-characters", "placeholder"),
        ("bk_0123abcd_short", "not an API key of the form"),
        (f"bk_XYZ_{secrets.token_urlsafe(32)}", "not an API key of the form"),
        (secrets.token_urlsafe(40), "not an API key of the form"),
    ],
    ids=["unset", "blank", "placeholder", "short", "bad-prefix", "foreign-format"],
)
def test_a_key_from_the_environment_must_be_set_real_and_of_our_format(
    boot_env: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    value: str | None,
    complaint: str,
) -> None:
    assert run(capsys, *TENANT)[0] == 0
    before = counts(boot_env)
    if value is None:
        monkeypatch.delenv("BOOT_KEY")
    else:
        monkeypatch.setenv("BOOT_KEY", value)
    code, out, err = run(capsys, *API_KEY_CREATE)
    assert code == 2 and out is None and complaint in err
    assert value is None or value.strip() == "" or value not in err
    assert counts(boot_env) == before


def test_gateway_secrets_from_the_environment_are_checked_like_the_options(
    boot_env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, *TENANT)[0] == 0
    monkeypatch.setenv("BOOT_WEBHOOK_SECRET", "too-short")
    code, _, err = run(capsys, *INSTANCE)
    assert code == 2 and "32 characters" in err and "too-short" not in err
    monkeypatch.setenv("BOOT_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("BOOT_GATEWAY_KEY", "CHANGE-ME")
    code, _, err = run(capsys, *INSTANCE)
    assert code == 2 and "BOOT_GATEWAY_KEY still holds the example's CHANGE-ME placeholder" in err
    assert counts(boot_env)[1] == 0
    with pytest.raises(SystemExit) as raised:  # one source of the key, not two
        main([*INSTANCE, "--api-key", "k"])
    assert raised.value.code == 2


def test_a_key_from_the_environment_whose_prefix_another_key_has_is_refused(
    boot_env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, *TENANT)[0] == 0
    code, first, _ = run(capsys, "apikey", "create", "--tenant", "acme", "--name", "first")
    assert code == 0
    monkeypatch.setenv("BOOT_KEY", f"bk_{first['prefix']}_{secrets.token_urlsafe(32)}")
    code, _, err = run(capsys, *API_KEY_CREATE)
    assert code == 2 and "prefix" in err
    assert query(boot_env, "SELECT name FROM api_keys") == [("first",)]


# --- billing wait ------------------------------------------------------------------------------------


def use(monkeypatch: pytest.MonkeyPatch, **env: str | None) -> None:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    reset_settings_cache()
    dispose_engine()


def test_wait_answers_at_once_when_postgres_and_rabbitmq_are_up(
    database_url: str, broker_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, answer, _ = run(capsys, "wait", "--timeout", "30")
    assert code == 0
    assert (answer["database"], answer["broker"]) == ("ready", "ready") and answer["waited_s"] < 5


def test_wait_keeps_trying_until_the_database_appears(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Job started before PostgreSQL (here: before its database exists) waits instead of failing."""
    base, _, _ = database_url.rpartition("/")
    name = f"billing_w_{uuid.uuid4().hex[:12]}"
    admin_url = os.environ.get("TEST_DATABASE_ADMIN_URL", f"{base}/postgres")
    use(monkeypatch, DATABASE_URL=f"{base}/{name}", RABBITMQ_URL="")  # empty: no broker to wait for

    def create_later() -> None:
        time.sleep(1.5)
        conn = psycopg2.connect(admin_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()

    creator = threading.Thread(target=create_later)
    creator.start()
    try:
        code, answer, _ = run(capsys, "wait", "--timeout", "60", "--interval", "0.3")
    finally:
        creator.join()
        dispose_engine()
        conn = psycopg2.connect(admin_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()
    assert code == 0
    assert answer["database"] == "ready" and answer["broker"] == "not configured"
    assert answer["waited_s"] >= 1.0


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"DATABASE_URL": "postgresql://billing:s3cret-pw@127.0.0.1:1/billing"}, "database unavailable"),
        ({"RABBITMQ_URL": "amqp://billing:s3cret-pw@127.0.0.1:1/%2F"}, "cannot reach RabbitMQ"),
        ({"RABBITMQ_URL": "amqp://billing:s3cret-pw@billing-rabbitmq.invalid:5672/%2F"}, "cannot reach RabbitMQ"),
    ],
    ids=["postgres-down", "rabbitmq-down", "rabbitmq-not-resolvable"],
)
def test_wait_gives_up_after_its_timeout_naming_what_is_down_without_the_password(
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    complaint: str,
) -> None:
    use(monkeypatch, **{"RABBITMQ_URL": RABBITMQ_URL, **env})
    started = time.monotonic()
    try:
        code, out, err = run(capsys, "wait", "--timeout", "2", "--interval", "0.5")
    finally:
        use(monkeypatch, DATABASE_URL=database_url)
    assert code == 1 and out is None
    assert complaint in err and "s3cret-pw" not in err
    assert time.monotonic() - started < 20
