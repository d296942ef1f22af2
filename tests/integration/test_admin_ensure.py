"""The admin use cases behind ``--if-missing`` and ``--key-from-env``: ``ensure_tenant``, ``ensure_instance``,
``ensure_api_key`` and ``create_api_key(key=...)``, against the real PostgreSQL (the CLI's answers are in
test_cli_bootstrap.py)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import sqlalchemy as sa
from billing.crypto import decrypt_secret, hash_api_key, hash_webhook_secret
from billing.errors import ConflictError, MalformedApiKeyError, ValidationFailedError
from billing.services import admin
from support.factories import SECRET

GATEWAY = {"name": "loja", "url": "https://evo.test", "api_key": "evolution-token-0123", "secret_key": SECRET}


def new_key() -> str:
    return f"bk_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"


def rows(db: Any, table: str) -> list[Any]:
    return list(db.execute(sa.text(f"SELECT * FROM {table} ORDER BY id")).all())


@pytest.fixture
def tenant(db: Any) -> Any:
    return admin.create_tenant("acme", session=db)


def test_ensure_tenant_creates_once_and_leaves_an_existing_one_as_it_is(db: Any) -> None:
    tenant, created = admin.ensure_tenant("acme", session=db, timezone="America/Manaus")
    assert created and admin.get_config(tenant.id, session=db).timezone == "America/Manaus"
    templates = db.execute(sa.text("SELECT count(*) FROM templates")).scalar_one()

    again, created = admin.ensure_tenant("acme", session=db, timezone="Europe/Lisbon", country="XX")
    assert not created and again.id == tenant.id
    assert admin.get_config(tenant.id, session=db).timezone == "America/Manaus"  # `set_config` changes a tenant
    assert db.execute(sa.text("SELECT count(*) FROM templates")).scalar_one() == templates


def test_ensure_instance_creates_with_a_generated_secret_then_answers_the_same_instance(db: Any, tenant: Any) -> None:
    inst, created, secret = admin.ensure_instance(tenant, session=db, gateway_instance="loja-evo", **GATEWAY)
    assert created and secret is not None and len(secret) >= 32
    assert inst.webhook_secret_hash == hash_webhook_secret(secret)
    assert decrypt_secret(inst.api_key_encrypted, secret_key=SECRET) == GATEWAY["api_key"]

    # Without a webhook secret it is not compared; with one it must be the stored one; a trailing "/" is the same URL.
    for given in (None, secret):
        same = admin.ensure_instance(
            tenant,
            session=db,
            webhook_secret=given,
            gateway_instance="loja-evo",
            **{**GATEWAY, "url": GATEWAY["url"] + "/"},
        )
        assert (same.row.id, same.created, same.secret) == (inst.id, False, None)
    assert len(rows(db, "whatsapp_instances")) == 1


def test_ensure_instance_keeps_a_given_webhook_secret(db: Any, tenant: Any) -> None:
    given = secrets.token_urlsafe(32)
    inst, created, secret = admin.ensure_instance(tenant, session=db, webhook_secret=given, **GATEWAY)
    assert created and secret == given and inst.webhook_secret_hash == hash_webhook_secret(given)
    assert inst.gateway_instance == "loja"


def test_ensure_instance_refuses_a_different_one_naming_every_field_and_no_value(db: Any, tenant: Any) -> None:
    admin.ensure_instance(tenant, session=db, webhook_secret=secrets.token_urlsafe(32), **GATEWAY)
    before = rows(db, "whatsapp_instances")
    asked = {
        **GATEWAY,
        "url": "https://evo2.test",
        "api_key": "a-rotated-token",
        "gateway_instance": "other",
        "webhook_secret": "w" * 40,
    }
    with pytest.raises(ConflictError) as refused:
        admin.ensure_instance(tenant, session=db, **asked)
    message = str(refused.value)
    assert "different URL, gateway instance, API key, webhook secret" in message
    assert all(value not in message for value in ("evo2.test", "a-rotated-token", "w" * 40))
    assert rows(db, "whatsapp_instances") == before


def test_create_api_key_stores_exactly_the_given_key(db: Any, tenant: Any) -> None:
    given = new_key()
    key, plaintext = admin.create_api_key(tenant, session=db, name="erp", key=given, read_only=True)
    assert plaintext == given
    assert (key.prefix, key.key_hash, key.read_only) == (given.split("_")[1], hash_api_key(given), True)
    [(prefix, key_hash)] = db.execute(sa.text("SELECT prefix, key_hash FROM api_keys")).all()
    assert (prefix, key_hash) == (key.prefix, hash_api_key(given))


@pytest.mark.parametrize(
    "given",
    [
        "bk_0123abcd_short",
        f"bk_XYZ_{secrets.token_urlsafe(32)}",
        f"bk_0123ABCD_{secrets.token_urlsafe(32)}",
        secrets.token_urlsafe(40),
        f"bk_0123abcd_{secrets.token_urlsafe(32)}!",
    ],
    ids=["short", "bad-prefix", "upper-hex", "foreign-format", "odd-character"],
)
def test_create_api_key_refuses_a_key_not_of_our_format_without_repeating_it(db: Any, tenant: Any, given: str) -> None:
    with pytest.raises(MalformedApiKeyError) as refused:
        admin.create_api_key(tenant, session=db, name="erp", key=given)
    assert isinstance(refused.value, ValidationFailedError)  # 422 at HTTP, exit 2 at the CLI
    assert "not an API key of the form bk_<8 hex digits>" in str(refused.value) and given not in str(refused.value)
    assert rows(db, "api_keys") == []


def test_create_api_key_refuses_a_prefix_another_key_has(db: Any, tenant: Any) -> None:
    first, _ = admin.create_api_key(tenant, session=db, name="first")
    with pytest.raises(ConflictError, match="prefix"):
        admin.create_api_key(tenant, session=db, name="erp", key=f"bk_{first.prefix}_{secrets.token_urlsafe(32)}")
    assert [r.name for r in rows(db, "api_keys")] == ["first"]


def test_ensure_api_key_creates_once_and_answers_the_same_key_without_its_value(db: Any, tenant: Any) -> None:
    given = new_key()
    key, created, plaintext = admin.ensure_api_key(tenant, session=db, name="erp", key=given, rate_limit=30)
    assert created and plaintext == given and key.rate_limit_per_minute == 30
    for again in (given, None):  # without a value, an active key of that name is enough
        same = admin.ensure_api_key(tenant, session=db, name="erp", key=again, rate_limit=99)
        assert (same.row.id, same.created, same.secret) == (key.id, False, None)
    assert key.rate_limit_per_minute == 30  # never edited


def test_ensure_api_key_generates_a_key_when_none_is_given(db: Any, tenant: Any) -> None:
    key, created, plaintext = admin.ensure_api_key(tenant, session=db, name="erp")
    assert created and plaintext is not None and key.key_hash == hash_api_key(plaintext)


def test_ensure_api_key_refuses_another_value_a_revoked_key_and_a_malformed_one(db: Any, tenant: Any) -> None:
    given = new_key()
    admin.ensure_api_key(tenant, session=db, name="erp", key=given)
    before = rows(db, "api_keys")
    other = new_key()
    with pytest.raises(ConflictError, match="exists with another value") as refused:
        admin.ensure_api_key(tenant, session=db, name="erp", key=other)
    assert other not in str(refused.value) and given not in str(refused.value)
    with pytest.raises(MalformedApiKeyError):  # named as malformed, not as "another value"
        admin.ensure_api_key(tenant, session=db, name="erp", key="bk_0123abcd_short")
    assert rows(db, "api_keys") == before

    admin.revoke_api_key(tenant, session=db, name="erp")
    for value in (given, None):
        with pytest.raises(ConflictError, match="was revoked"):
            admin.ensure_api_key(tenant, session=db, name="erp", key=value)


def test_the_cli_names_the_variable_of_a_malformed_key_and_prints_no_given_key(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.cli import main

    assert main(["tenant", "create", "acme"]) == 0
    create = ["apikey", "create", "--tenant", "acme", "--name", "erp", "--key-from-env", "ERP_KEY"]
    monkeypatch.setenv("ERP_KEY", "bk_0123abcd_short")
    capsys.readouterr()
    assert main(create) == 2
    assert capsys.readouterr().err == (
        "billing: ERP_KEY is not an API key of the form bk_<8 hex digits>_<32+ characters of A-Z a-z 0-9 _ ->; "
        "deploy/README.md shows how to generate one\n"
    )
    given = new_key()
    monkeypatch.setenv("ERP_KEY", given)
    assert main(create) == 0
    out = capsys.readouterr().out
    assert given not in out and '"key"' not in out and '"created"' not in out
