"""Every error status of the send route (docs/api.md#send_overdue) comes back as problem+json; tenants
never see each other."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from billing.adapters.broker import reset_publisher
from billing.config import reset_settings_cache
from support.send_factories import SEND, batch, contact, headers, make_tenant, send_client
from support.windows import same_window

PROBLEM = "application/problem+json"


@pytest.fixture
def env(database_url: str, broker_prefix: str) -> Iterator[Any]:
    reset_publisher()
    yield make_tenant()
    reset_publisher()


def assert_problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.data
    assert answer.content_type == PROBLEM
    body = answer.get_json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return dict(body)


def count_queues() -> int:
    from billing.db.engine import unit_of_work

    with unit_of_work() as uow:
        return int(uow.session.execute(sa.text("SELECT count(*) FROM billing_queues")).scalar_one())


def post(key: str | None, body: Any = None, *, kind: str = "overdue", **kwargs: Any) -> Any:
    hdrs = kwargs.pop("headers", {})
    if key is not None:
        hdrs["X-Billing-API-Key"] = key
    if body is not None:
        kwargs["json"] = body
    return send_client().post(SEND.format(kind), headers=hdrs, **kwargs)


@pytest.mark.parametrize("key", [None, "", "bk_nothing_here", "not-a-key"])
def test_a_missing_or_unknown_key_is_401(env: Any, key: str | None) -> None:
    assert_problem(post(key, batch(1)), 401)


def test_a_revoked_key_is_401(env: Any) -> None:
    from billing.db.engine import unit_of_work
    from billing.services import admin

    with unit_of_work() as uow:
        admin.revoke_api_key(admin.resolve_tenant("acme", session=uow.session), session=uow.session, name="erp")
        uow.commit()
    assert "revoked" in assert_problem(post(env.key, batch(1)), 401)["detail"]


def test_a_key_limited_to_other_types_or_addresses_is_403(database_url: str, broker_prefix: str) -> None:
    from billing.db.engine import unit_of_work
    from billing.services import admin

    typed = make_tenant("typed", types=["upcoming"])
    assert_problem(post(typed.key, batch(1)), 403)
    with unit_of_work() as uow:
        tenant = admin.resolve_tenant("typed", session=uow.session)
        _, fenced = admin.create_api_key(tenant, session=uow.session, name="fenced", ips=["10.0.0.0/8"])
        uow.commit()
    assert "address" in assert_problem(post(fenced, batch(1)), 403)["detail"]
    assert count_queues() == 0


def test_an_unknown_template_or_instance_is_404(env: Any) -> None:
    assert "template 'nope'" in assert_problem(post(env.key, batch(1, template="nope")), 404)["detail"]
    # A template that exists, but of another type, is not found either.
    assert_problem(post(env.key, batch(1, template="lembrete-vencimento")), 404)
    assert "instance 'nope'" in assert_problem(post(env.key, batch(1, instance="nope")), 404)["detail"]
    assert_problem(send_client().post("/api/v1/billing/send/other", json=batch(1), headers=headers(env.key)), 404)


def test_another_tenants_templates_and_instances_are_invisible_and_untouched(env: Any) -> None:
    from billing.db.engine import unit_of_work
    from billing.services import admin

    with unit_of_work() as uow:
        tenant = admin.resolve_tenant("acme", session=uow.session)
        admin.add_template(
            tenant, session=uow.session, template_type="overdue", name="so-da-acme", bodies=["A {{nome}}"]
        )
        admin.add_instance(
            tenant,
            session=uow.session,
            name="zap-acme",
            url="http://127.0.0.1:1",
            api_key="k",
            secret_key="test-secret-key-0123456789abcdef",
        )
        uow.commit()
    other = make_tenant("globex")
    assert_problem(post(other.key, batch(1, template="so-da-acme")), 404)
    assert_problem(post(other.key, batch(1, instance="zap-acme")), 404)
    # Same idempotency key and external id in two tenants: two independent queues.
    mine = post(env.key, batch(1, external_id="shared-id"))
    theirs = post(other.key, batch(2, external_id="shared-id"))
    assert (mine.status_code, theirs.status_code) == (202, 202)
    with unit_of_work() as uow:
        owners = uow.session.execute(
            sa.text(
                "SELECT q.tenant_id, i.tenant_id AS inst_tenant, t.tenant_id AS tpl_tenant FROM billing_queues q "
                "JOIN billing_campaigns c ON c.id = q.campaign_id JOIN whatsapp_instances i ON i.id = q.instance_id "
                "JOIN templates t ON t.id = c.template_id WHERE q.id = :id"
            ),
            {"id": theirs.get_json()["queue_id"]},
        ).one()
    assert owners == (other.tenant_id, other.tenant_id, other.tenant_id)


def test_a_body_over_the_size_limit_is_413_before_it_is_parsed(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_MAX_BODY_BYTES", "2048")
    reset_settings_cache()
    big = batch(30)
    assert_problem(post(env.key, big), 413)
    # Not even a valid key is needed to be refused: the declared size is checked first.
    assert_problem(post(None, data=b"{" * 5000, content_type="application/json"), 413)
    assert count_queues() == 0


def test_a_streamed_body_over_the_limit_is_413(env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setenv("BILLING_MAX_BODY_BYTES", "2048")
    reset_settings_cache()
    client = send_client()
    answer = client.post(
        SEND.format("overdue"),
        input_stream=io.BytesIO(b" " * 5000 + b"{}"),
        headers={"X-Billing-API-Key": env.key, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_problem(answer, 413)


def test_more_contacts_than_the_tenant_allows_is_413(database_url: str, broker_prefix: str) -> None:
    small = make_tenant("small", max_contacts_per_request=2)
    assert "at most 2" in assert_problem(post(small.key, batch(3)), 413)["detail"]
    assert post(small.key, batch(2)).status_code == 202


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1", None]
)
def test_anything_but_json_is_415(env: Any, content_type: str | None) -> None:
    hdrs = {"Content-Type": content_type} if content_type else {}
    assert_problem(post(env.key, data=b'{"contacts": []}', headers=hdrs), 415)


@pytest.mark.parametrize("content_type", ["application/json; charset=UTF-8", "application/vnd.erp+json"])
def test_json_in_utf8_under_any_json_media_type_is_accepted(env: Any, content_type: str) -> None:
    import json

    answer = post(env.key, data=json.dumps(batch(1)).encode(), headers={"Content-Type": content_type})
    assert answer.status_code == 202


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b'"text"', b"\xff\xfe{}", b'{"contacts": [NaN]}', b"[" * 50_000])
def test_malformed_json_or_a_non_object_is_400(env: Any, raw: bytes) -> None:
    assert_problem(post(env.key, data=raw, content_type="application/json"), 400)


def test_unknown_top_level_fields_are_422_with_their_name(env: Any) -> None:
    body = assert_problem(post(env.key, {**batch(1), "contatos": []}), 422)
    assert body["errors"] == [{"loc": ["contatos"], "msg": "unknown field 'contatos'; see the OpenAPI document"}]


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"contacts": []}, ["contacts"]),
        ({}, ["contacts"]),
        ({"contacts": [contact(0)], "scheduled_for": "tomorrow"}, ["scheduled_for"]),
        ({"contacts": [contact(0)], "external_id": ""}, ["external_id"]),
    ],
)
def test_an_unusable_envelope_is_422(env: Any, payload: dict[str, Any], loc: list[Any]) -> None:
    assert assert_problem(post(env.key, payload), 422)["errors"][0]["loc"] == loc


def test_no_valid_contact_is_422_listing_every_error_by_index(env: Any) -> None:
    body = assert_problem(post(env.key, {"contacts": [contact(0, phone="abc"), {"name": "x"}, 7]}), 422)
    assert body["errors"] == [
        {"loc": ["contacts", 0, "phone"], "msg": "phone number contains letters or symbols"},
        {"loc": ["contacts", 1, "phone"], "msg": "Field required"},
        {"loc": ["contacts", 2], "msg": "contact must be a JSON object"},
    ]
    assert count_queues() == 0


def test_the_rate_limit_is_shared_by_two_separate_app_instances(database_url: str, broker_prefix: str) -> None:
    reset_publisher()
    limited = make_tenant("limited", rate_limit=3)
    same_window()  # all four requests count in one minute
    first_app, second_app = send_client(), send_client()
    answers = [
        app.post(SEND.format("overdue"), json=batch(1), headers=headers(limited.key))
        for app in (first_app, second_app, first_app, second_app)
    ]
    assert [a.status_code for a in answers[:3]] == [202, 202, 202]
    assert answers[0].headers["RateLimit-Remaining"] == "2"
    refused = assert_problem(answers[3], 429)
    assert int(answers[3].headers["Retry-After"]) >= 1 and "rate limit" in refused["detail"]


def test_the_database_being_down_is_503_with_retry_after(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from billing.db.engine import dispose_engine

    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/billing")
    reset_settings_cache()
    dispose_engine()
    answer = post("bk_abcdefgh_whatever", batch(1))
    assert_problem(answer, 503)
    assert answer.headers["Retry-After"] == "5"
