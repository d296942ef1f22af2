"""``billing suppression add|remove|list``, and the suppression list as ingest and the sender read it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from billing.cli import main
from billing.db.engine import unit_of_work
from billing.services.inbound.suppression import suppressed_phones
from support.webhook_factories import make_world


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_an_operator_adds_lists_and_removes_a_phone_typed_any_way(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_world()
    code, added, _ = run(capsys, "suppression", "add", "--tenant", "acme", "--phone", "(11) 98888-7777")
    assert code == 0 and added == {"phone": "+5511988887777", "suppressed": True, "changed": True}
    _, again, _ = run(capsys, "suppression", "add", "--tenant", "acme", "--phone", "+55 11 98888-7777")
    assert again["changed"] is False
    _, listing, _ = run(capsys, "suppression", "list", "--tenant", "acme")
    assert [(r["phone"], r["reason"]) for r in listing] == [("+5511988887777", "added by an operator")]
    with unit_of_work() as uow:
        found = suppressed_phones(world.tenant_id, ["+5511988887777", "+5511977776666"], session=uow.session)
    assert found == {"+5511988887777"}
    _, removed, _ = run(capsys, "suppression", "remove", "--tenant", "acme", "--phone", "11988887777")
    assert removed["changed"] is True
    _, listing, _ = run(capsys, "suppression", "list", "--tenant", "acme", "--phone", "11988887777")
    assert listing == []


@pytest.mark.parametrize(
    "argv",
    [
        ["suppression", "add", "--tenant", "acme"],
        ["suppression", "add", "--tenant", "acme", "--phone", "abc"],
        ["suppression", "list", "--tenant", "nobody"],
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(
    database_url: str, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    make_world()
    code, out, err = run(capsys, *argv)
    assert code == 2 and out is None and err.startswith("billing: ")
    _, listing, _ = run(capsys, "suppression", "list", "--tenant", "acme")
    assert listing == []
