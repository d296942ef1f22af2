from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from billing.cli import main
from billing.config import get_settings
from billing.crypto import decrypt_secret, hash_api_key


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, object, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def dump_database(url: str) -> str:
    """Every value in every table, as one text blob (to search for leaked secrets)."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            tables = [r[0] for r in cur.fetchall()]
            chunks = []
            for table in tables:
                cur.execute(f'SELECT * FROM "{table}"')
                chunks.append(repr(cur.fetchall()))
        return "\n".join(chunks)
    finally:
        conn.close()


def query(url: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def test_every_create_command_prints_json_and_writes_its_rows(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, tenant, _ = run(capsys, "tenant", "create", "acme", "--subdivision", "SP")
    assert code == 0 and tenant["name"] == "acme"  # type: ignore[index]
    # A new tenant works at once: default templates of every type with 3+ variations, Mon-Fri hours.
    rows = query(
        database_url,
        "SELECT t.template_type, count(v.id) FROM templates t JOIN template_variations v ON v.template_id = t.id "
        "WHERE t.is_default GROUP BY t.template_type",
    )
    assert {r[0] for r in rows} == {"overdue", "upcoming", "notification"}
    assert all(r[1] >= 3 for r in rows)
    assert query(database_url, "SELECT count(*) FROM business_hours")[0][0] == 5

    code, inst, _ = run(
        capsys,
        "instance",
        "add",
        "--tenant",
        "acme",
        "--name",
        "loja",
        "--url",
        "http://127.0.0.1:8089",
        "--api-key",
        "gw-plain-key-123",
        "--default",
    )
    assert code == 0 and inst["name"] == "loja" and "api_key_encrypted" not in inst  # type: ignore[index]
    stored = query(database_url, "SELECT api_key_encrypted FROM whatsapp_instances")[0][0]
    assert stored != "gw-plain-key-123" and "gw-plain-key-123" not in str(stored)
    assert decrypt_secret(str(stored), secret_key=get_settings().billing_secret_key.get_secret_value()) == (
        "gw-plain-key-123"
    )
    assert query(database_url, "SELECT default_instance_id::text FROM billing_configs")[0][0] == inst["id"]  # type: ignore[index]

    code, key, _ = run(
        capsys,
        "apikey",
        "create",
        "--tenant",
        "acme",
        "--name",
        "erp",
        "--types",
        "overdue,upcoming",
        "--ips",
        "10.0.0.0/8",
        "--expires",
        "2099-01-01",
        "--rate-limit",
        "30",
    )
    assert code == 0
    plaintext = key["key"]  # type: ignore[index]
    assert key["allowed_types"] == ["overdue", "upcoming"] and key["allowed_ips"] == ["10.0.0.0/8"]  # type: ignore[index]
    assert plaintext not in dump_database(database_url)
    assert query(database_url, "SELECT key_hash FROM api_keys")[0][0] == hash_api_key(plaintext)

    code, tpl, _ = run(
        capsys,
        "template",
        "add",
        "--tenant",
        "acme",
        "--type",
        "overdue",
        "--name",
        "curta",
        "--body",
        "Oi {{nome}}, {{valor}}",
        "--body",
        "Olá {{nome}}: {{valor}}",
        "--default",
    )
    assert code == 0 and tpl["variations"] == 2 and tpl["is_default"] is True  # type: ignore[index]
    defaults = query(database_url, "SELECT name FROM templates WHERE is_default AND template_type = 'overdue'")
    assert defaults == [("curta",)]

    code, hours, _ = run(
        capsys, "hours", "set", "--tenant", "acme", "--days", "sat", "--from", "09:00", "--to", "13:00"
    )
    assert code == 0 and hours[0]["weekday"] == 5  # type: ignore[index]
    assert query(database_url, "SELECT count(*) FROM business_hours")[0][0] == 6

    code, config, _ = run(
        capsys,
        "config",
        "set",
        "--tenant",
        "acme",
        "--throttle-per-minute",
        "12",
        "--daily-cap",
        "500",
        "--max-contacts",
        "2000",
        "--rate-limit",
        "90",
    )
    assert code == 0
    assert (config["throttle_per_minute"], config["daily_cap"]) == (12, 500)  # type: ignore[index]
    assert (config["max_contacts_per_request"], config["api_rate_limit_per_minute"]) == (2000, 90)  # type: ignore[index]

    code, revoked, _ = run(capsys, "apikey", "revoke", "--tenant", "acme", "--name", "erp")
    assert code == 0 and revoked["active"] is False  # type: ignore[index]


@pytest.mark.parametrize(
    "argv",
    [
        ["tenant", "create"],
        ["config", "set", "--tenant", "x", "--throttle-per-minute", "0"],
        ["apikey", "create", "--tenant", "x", "--name", "k", "--expires", "soon"],
        ["template", "add", "--tenant", "x", "--type", "weird", "--name", "t", "--body", "b"],
        ["hours", "set", "--tenant", "x", "--days", "mon", "--from", "8h", "--to", "18:00"],
        ["nonsense"],
    ],
)
def test_bad_arguments_print_one_line_exit_2_and_write_nothing(
    database_url: str, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    before = dump_database(database_url)
    with pytest.raises(SystemExit) as raised:
        main(argv)
    code = raised.value.code
    out, err = capsys.readouterr()
    assert code == 2
    assert err.strip() and out == ""
    assert dump_database(database_url) == before


def test_validation_errors_found_after_parsing_also_exit_2_and_write_nothing(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tenant", "create", "acme"]) == 0
    capsys.readouterr()
    before = dump_database(database_url)
    for argv in (
        ["tenant", "create", "acme"],
        ["tenant", "create", "x", "--timezone", "Mars/Olympus"],
        ["hours", "set", "--tenant", "acme", "--days", "funday", "--from", "08:00", "--to", "18:00"],
        ["hours", "set", "--tenant", "acme", "--days", "mon", "--from", "18:00", "--to", "08:00"],
        ["template", "add", "--tenant", "acme", "--type", "overdue", "--name", "t", "--body", "{{#if a}}open"],
        ["instance", "add", "--tenant", "acme", "--name", "i", "--url", "ftp://x", "--api-key", "k"],
        ["apikey", "create", "--tenant", "acme", "--name", "k", "--ips", "not-a-cidr"],
        ["apikey", "create", "--tenant", "acme", "--name", "k", "--expires", "2001-01-01"],
    ):
        assert main(argv) == 2, argv
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1, (argv, err)
    assert dump_database(database_url) == before


def test_the_installed_console_script_runs_against_database_url(database_url: str) -> None:
    billing = Path(sys.executable).with_name("billing")
    result = subprocess.run(
        [str(billing), "tenant", "create", "via-script"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "via-script"


def test_an_instance_gets_a_generated_webhook_secret_shown_once_and_short_ones_are_refused(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from billing.crypto import hash_webhook_secret

    assert run(capsys, "tenant", "create", "acme")[0] == 0
    add = ("instance", "add", "--tenant", "acme", "--url", "https://evo.test", "--api-key", "k")
    code, inst, _ = run(capsys, *add, "--name", "loja")
    assert code == 0 and len(inst["webhook_secret"]) >= 43  # type: ignore[index]
    stored = query(database_url, "SELECT webhook_secret_hash FROM whatsapp_instances")[0][0]
    assert stored == hash_webhook_secret(inst["webhook_secret"])  # type: ignore[index]
    assert inst["webhook_secret"] not in dump_database(database_url)  # type: ignore[index]
    code, _, err = run(capsys, *add, "--name", "loja2", "--webhook-secret", "short")
    assert code == 2 and "32 characters" in err
    code, rotated, _ = run(capsys, "instance", "update", "--tenant", "acme", "--name", "loja", "--new-webhook-secret")
    assert code == 0 and rotated["webhook_secret"] != inst["webhook_secret"]  # type: ignore[index]


def test_in_production_an_http_gateway_is_refused_unless_allowed(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.config import reset_settings_cache

    assert run(capsys, "tenant", "create", "acme")[0] == 0
    monkeypatch.setenv("BILLING_ENV", "production")
    monkeypatch.setenv("BILLING_SECRET_KEY", "p" * 32)
    monkeypatch.setenv("BILLING_INTERNAL_AUTH", "network")
    reset_settings_cache()
    add = ("instance", "add", "--tenant", "acme", "--url", "http://evo.internal:8080", "--api-key", "k")
    code, _, err = run(capsys, *add, "--name", "a")
    assert code == 2 and "https://" in err
    monkeypatch.setenv("BILLING_ALLOW_HTTP_GATEWAY", "true")
    reset_settings_cache()
    assert run(capsys, *add, "--name", "b")[0] == 0


def test_rotating_the_secret_key_reencrypts_every_gateway_key_and_the_old_key_can_go(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.config import reset_settings_cache
    from billing.crypto import decrypt_secret
    from billing.errors import ConfigurationError

    old, new = "old-key-" + "o" * 24, "new-key-" + "n" * 24
    monkeypatch.setenv("BILLING_SECRET_KEY", old)
    reset_settings_cache()
    assert run(capsys, "tenant", "create", "acme")[0] == 0
    for name in ("a", "b"):
        add = ("instance", "add", "--tenant", "acme", "--name", name, "--url", "https://evo.test")
        assert run(capsys, *add, "--api-key", f"k-{name}")[0] == 0
    monkeypatch.setenv("BILLING_SECRET_KEY", f"{new},{old}")  # the new key first: it encrypts, both decrypt
    reset_settings_cache()
    code, out, _ = run(capsys, "secrets", "rotate")
    assert code == 0 and out == {"reencrypted": 2}
    stored = [row[0] for row in query(database_url, "SELECT api_key_encrypted FROM whatsapp_instances ORDER BY name")]
    assert [decrypt_secret(c, secret_key=new) for c in stored] == ["k-a", "k-b"]  # the old key is no longer needed
    with pytest.raises(ConfigurationError):
        decrypt_secret(stored[0], secret_key=old)


@pytest.mark.parametrize("variable", ["BILLING_SECRET_KEY", "BILLING_TRIGGER_TOKEN", "DATABASE_URL"])
def test_the_examples_placeholders_do_not_start_in_production(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    from billing.config import load_settings
    from billing.errors import ConfigurationError

    values = {
        "BILLING_SECRET_KEY": "CHANGE-ME-to-32-random-bytes-base64",
        "BILLING_TRIGGER_TOKEN": "CHANGE-ME-to-32-random-bytes-base64",
        "DATABASE_URL": "postgresql://billing:CHANGE-ME@db:5432/billing",
    }
    monkeypatch.setenv("BILLING_ENV", "production")
    monkeypatch.setenv("BILLING_SECRET_KEY", "p" * 32)
    monkeypatch.setenv("BILLING_INTERNAL_AUTH", "network")
    monkeypatch.setenv(variable, values[variable])
    with pytest.raises(ConfigurationError, match=variable):
        load_settings()


def test_an_unreachable_database_is_named_without_its_password_with_what_to_do(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.config import reset_settings_cache
    from billing.db.engine import dispose_engine

    monkeypatch.setenv("DATABASE_URL", "postgresql://billing:s3cret-pw@127.0.0.1:1/billing")
    reset_settings_cache()
    dispose_engine()
    try:
        code, _, err = run(capsys, "tenant", "create", "acme")
    finally:
        dispose_engine()
    assert code == 1 and "database unavailable" in err
    assert "127.0.0.1:1/billing" in err and "s3cret-pw" not in err and "DATABASE_URL" in err


def test_a_template_variable_that_no_contact_can_fill_is_refused_with_the_closest_name(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tenant", "create", "acme"]) == 0
    capsys.readouterr()
    before = dump_database(database_url)
    add = ["template", "add", "--tenant", "acme", "--type", "overdue", "--name", "t"]
    assert main([*add, "--body", "Olá {{nome}}, sua fatura de {{valro}} venceu."]) == 2
    _, err = capsys.readouterr()
    assert "unknown variable `valro`: did you mean `valor`?" in err
    assert main([*add, "--body", "Olá {{nome}}, {{xyzzy}}"]) == 2
    _, err = capsys.readouterr()
    assert "unknown variable `xyzzy`" in err and "did you mean" not in err
    assert dump_database(database_url) == before
    # A built-in name, or one declared in the template's schema, is accepted.
    assert main([*add, "--body", "Olá {{nome}}, {{valor}} em {{vencimento}}."]) == 0
