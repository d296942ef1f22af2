"""``billing ... list|show``, template edit/enable/disable, hours remove, instance remove, queue list."""

from __future__ import annotations

import json
from typing import Any

import pytest
from billing.cli import main
from support.ops_factories import client, contact_statuses, execute
from support.send_factories import batch, headers


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def acme(database_url: str, broker: Any, capsys: pytest.CaptureFixture[str]) -> str:
    """A tenant made through the CLI, with one instance and one API key; returns the key."""
    assert run(capsys, "tenant", "create", "acme")[0] == 0
    gateway = ["--url", "http://127.0.0.1:8089", "--api-key", "gw-plain-key-123"]
    assert run(capsys, "instance", "add", "--tenant", "acme", "--name", "loja", *gateway, "--default")[0] == 0
    code, out, _ = run(capsys, "apikey", "create", "--tenant", "acme", "--name", "erp")
    assert code == 0
    return str(json.loads(out)["key"])


def test_lists_are_tables_or_json_and_never_show_a_secret(acme: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "tenant", "list")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["name", "display_name", "timezone"]
    assert out.splitlines()[1].split()[0] == "acme"
    code, out, _ = run(capsys, "tenant", "list", "--json")
    [tenant] = json.loads(out)
    assert (tenant["name"], tenant["instances"], tenant["active_keys"]) == ("acme", 1, 1)
    shown = json.loads(run(capsys, "tenant", "show", "acme")[1])
    assert shown["config"]["throttle_per_minute"] == 20 and len(shown["business_hours"]) == 5
    instances = json.loads(run(capsys, "instance", "list", "--tenant", "acme", "--json")[1])
    assert [(i["name"], i["is_default"], i["health_state"]) for i in instances] == [("loja", True, "unknown")]
    keys = run(capsys, "apikey", "list", "--tenant", "acme")[1]
    assert "erp" in keys and acme.split("_")[1] in keys  # the prefix, to recognise it
    everything = "".join(
        run(capsys, *argv)[1]
        for argv in (
            ["apikey", "list", "--tenant", "acme", "--json"],
            ["apikey", "show", "--tenant", "acme", "--name", "erp"],
            ["instance", "show", "--tenant", "acme", "--name", "loja"],
            ["tenant", "show", "acme"],
        )
    )
    assert acme not in everything and "gw-plain-key-123" not in everything and "key_hash" not in everything
    templates = json.loads(run(capsys, "template", "list", "--tenant", "acme", "--json")[1])
    assert {t["type"] for t in templates} == {"overdue", "upcoming", "notification"}
    assert all(len(t["variations"]) == 3 for t in templates)
    code, _, err = run(capsys, "template", "show", "--tenant", "acme", "--name", "nope")
    assert code == 2 and "not found" in err


def test_template_edit_is_checked_and_previewed_and_a_disabled_variation_is_no_longer_used(
    acme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    edit = ["template", "edit", "--tenant", "acme", "--name", "cobranca-padrao", "--variation", "3"]
    code, _, err = run(capsys, *edit, "--body", "Olá {{nome}}, {{valro}} em aberto.")
    assert code == 2 and "did you mean `valor`?" in err
    code, out, _ = run(capsys, *edit, "--body", "Olá {{nome}}, sua fatura de {{valor}} está em aberto.")
    assert code == 0
    assert json.loads(out)["preview"] == "Olá Maria Silva, sua fatura de R$ 1.234,56 está em aberto."
    switch = ["--tenant", "acme", "--name", "cobranca-padrao", "--variation"]
    assert run(capsys, "template", "disable", *switch, "1")[0] == 0
    assert run(capsys, "template", "disable", *switch, "2")[0] == 0
    code, _, err = run(capsys, "template", "disable", *switch, "3")
    assert code == 2 and "last enabled" in err
    # New batches use only the enabled variation, with its new wording.
    send = client("send")
    answer = send.post("/api/v1/billing/send/overdue", json=batch(6), headers=headers(acme))
    assert answer.status_code == 202, answer.get_json()
    messages = {r["message"] for r in execute("SELECT message FROM billing_contacts")}
    assert all(m.startswith("Olá Cliente") and "está em aberto." in m for m in messages), messages
    assert run(capsys, "template", "enable", *switch, "1")[0] == 0


def test_hours_remove_and_instance_remove_refused_while_a_queue_uses_it(
    acme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "hours", "remove", "--tenant", "acme", "--days", "fri")
    assert code == 0 and json.loads(out)["removed_windows"] == 1
    assert sorted(h["weekday"] for h in json.loads(out)["business_hours"]) == [0, 1, 2, 3]
    assert run(capsys, "hours", "remove", "--tenant", "acme", "--days", "funday")[0] == 2
    gateway = ["--url", "http://127.0.0.1:8089", "--api-key", "k2"]
    assert run(capsys, "instance", "add", "--tenant", "acme", "--name", "spare", *gateway)[0] == 0
    assert run(capsys, "instance", "remove", "--tenant", "acme", "--name", "spare")[0] == 0
    assert [i["name"] for i in json.loads(run(capsys, "instance", "list", "--tenant", "acme", "--json")[1])] == ["loja"]
    send = client("send")
    queue_id = send.post("/api/v1/billing/send/notification", json=batch(2, kind="notification"), headers=headers(acme))
    assert queue_id.status_code == 202
    code, _, err = run(capsys, "instance", "remove", "--tenant", "acme", "--name", "loja")
    assert code == 2 and "used by 1 queue(s), 1 still active" in err
    assert contact_statuses(queue_id.get_json()["queue_id"]) == {"pending": 2}  # nothing touched


def test_queue_list_by_tenant_and_status(acme: str, capsys: pytest.CaptureFixture[str]) -> None:
    send = client("send")
    made = send.post("/api/v1/billing/send/notification", json=batch(3, kind="notification"), headers=headers(acme))
    queue_id = made.get_json()["queue_id"]
    code, out, _ = run(capsys, "queue", "list", "--tenant", "acme", "--status", "pending")
    assert code == 0 and queue_id in out and "notification" in out
    rows = json.loads(run(capsys, "queue", "list", "--json")[1])
    assert [(r["id"], r["tenant"], r["pending"]) for r in rows] == [(queue_id, "acme", 3)]
    assert "(none)" in run(capsys, "queue", "list", "--status", "completed")[1]
    code, out, _ = run(capsys, "queue", "show", queue_id)
    assert code == 0 and json.loads(out)["queue_id"] == queue_id and json.loads(out)["total"] == 3
    code, _, err = run(capsys, "queue", "list", "--status", "bogus")
    assert code == 2 and "unknown queue status" in err
