"""``billing operator ...``: console operators from the command line (docs/console.md)."""

from __future__ import annotations

import json

import pytest
from billing.cli import main
from support.console import ConsoleClient

EMAIL = "ana@acme.example"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def acme(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "tenant", "create", "acme")[0] == 0


def signs_in(email: str, password: str) -> int:
    console = ConsoleClient()
    console.get("/console/login")
    return int(console.post("/console/login", {"email": email, "password": password}).status_code)


def test_create_prints_a_generated_password_once_and_it_signs_in(
    acme: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "operator", "create", "--email", EMAIL, "--tenant", "acme", "--role", "viewer")
    assert code == 0
    created = json.loads(out)
    assert created["created"] is True and created["role"] == "viewer" and len(created["password"]) >= 12
    assert signs_in(EMAIL, created["password"]) == 303
    code, out, _ = run(capsys, "operator", "create", "--email", EMAIL.upper(), "--tenant", "acme", "--if-missing")
    assert code == 0 and json.loads(out) == {"email": EMAIL.upper(), "created": False}
    code, _, err = run(capsys, "operator", "create", "--email", EMAIL, "--tenant", "acme")
    assert code == 2 and "already exists" in err
    code, out, _ = run(capsys, "operator", "list", "--json")
    [row] = json.loads(out)
    assert (row["email"], row["role"], row["tenant"], row["active"]) == (EMAIL, "viewer", "acme", True)
    assert created["password"] not in out


def test_a_password_from_the_environment_is_never_printed(
    acme: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPERATOR_PW", "uma-senha-longa-o-bastante")
    code, out, err = run(capsys, "operator", "create", "--email", EMAIL, "--all", "--password-from-env", "OPERATOR_PW")
    assert code == 0 and "password" not in json.loads(out)
    assert "uma-senha-longa-o-bastante" not in out + err
    assert json.loads(out)["tenant_id"] is None  # an operator of every tenant
    monkeypatch.setenv("SHORT_PW", "curta")
    code, _, err = run(
        capsys, "operator", "create", "--email", "b@acme.example", "--all", "--password-from-env", "SHORT_PW"
    )
    assert code == 2 and "12 to 256 characters" in err and "curta" not in err


def test_set_resets_a_forgotten_password_changes_the_role_and_ends_sessions(
    acme: None, capsys: pytest.CaptureFixture[str]
) -> None:
    password = json.loads(run(capsys, "operator", "create", "--email", EMAIL, "--tenant", "acme")[1])["password"]
    console = ConsoleClient()
    console.sign_in(EMAIL, password)
    code, out, _ = run(capsys, "operator", "set", "--email", EMAIL, "--new-password", "--role", "admin")
    assert code == 0
    changed = json.loads(out)
    assert changed["role"] == "admin" and changed["password"] != password
    assert console.get("/console/").status_code == 303  # the session held before the change is over
    assert signs_in(EMAIL, password) == 401
    assert signs_in(EMAIL, changed["password"]) == 303
    code, _, err = run(capsys, "operator", "set", "--email", EMAIL)
    assert code == 2 and "nothing to change" in err
    code, _, err = run(capsys, "operator", "set", "--email", "nobody@acme.example", "--role", "viewer")
    assert code == 2 and "not found" in err


def test_disable_refuses_sign_in_and_enable_restores_it(acme: None, capsys: pytest.CaptureFixture[str]) -> None:
    password = json.loads(run(capsys, "operator", "create", "--email", EMAIL, "--tenant", "acme")[1])["password"]
    assert run(capsys, "operator", "disable", "--email", EMAIL)[0] == 0
    assert signs_in(EMAIL, password) == 401
    assert run(capsys, "operator", "enable", "--email", EMAIL)[0] == 0
    assert signs_in(EMAIL, password) == 303
    code, _, err = run(capsys, "operator", "create", "--email", "not-an-email", "--tenant", "acme")
    assert code == 2 and "not an email address" in err
    code, _, err = run(capsys, "operator", "create", "--email", "c@acme.example", "--tenant", "nope")
    assert code == 2 and "not found" in err
