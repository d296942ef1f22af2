"""The console's doors: sign-in (Argon2, CSRF, rate limit, safe redirect), the signed session cookie,
sign-out that ends every session, roles, tenant isolation, form bounds, and the queue pages' reads and
actions, audited with the operator. Real PostgreSQL; the console function's own WSGI app."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from support.console import PASSWORD, ConsoleClient, make_operator, signed_in
from support.factories import make_queue, make_world, queue_row, status_counts
from support.windows import same_window


@pytest.fixture
def world(db: Any) -> Any:
    return make_world(db)


def _cookie_header(answer: Any, name: str) -> str:
    return next(h for h in answer.headers.getlist("Set-Cookie") if h.startswith(name + "="))


def test_sign_in_sets_a_signed_http_only_cookie_and_goes_where_asked(world: Any) -> None:
    make_operator("ana@acme.example", tenant_id=world.tenant_id)
    console = ConsoleClient()
    console.get("/console/login?next=/console/queues?status=all")
    answer = console.post(
        "/console/login", {"email": "Ana@Acme.example", "password": PASSWORD, "next": "/console/queues?status=all"}
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/console/queues?status=all"
    cookie = _cookie_header(answer, "billing_console")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/;" in cookie or cookie.endswith("Path=/")  # the event stream takes it too
    page = console.get("/console/queues?status=all")
    assert page.status_code == 200
    assert "ana@acme.example" in page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")


@pytest.mark.parametrize("email", ["ana@acme.example", "nobody@acme.example"])
def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(world: Any, email: str) -> None:
    make_operator("ana@acme.example", tenant_id=world.tenant_id)
    console = ConsoleClient()
    console.get("/console/login")
    answer = console.post("/console/login", {"email": email, "password": "not-the-password-1"})
    assert answer.status_code == 401
    assert "e-mail ou senha incorretos" in answer.get_data(as_text=True)
    assert not [h for h in answer.headers.getlist("Set-Cookie") if h.startswith("billing_console=")]


def test_sign_in_without_its_csrf_token_is_refused(world: Any) -> None:
    make_operator("ana@acme.example", tenant_id=world.tenant_id)
    console = ConsoleClient()
    console.get("/console/login")
    answer = console.post("/console/login", {"email": "ana@acme.example", "password": PASSWORD}, csrf=False)
    assert answer.status_code == 403
    assert console.get("/console/").status_code == 303  # still signed out


@pytest.mark.parametrize(
    "wanted", ["//evil.example/x", "https://evil.example/", "/api/v1/billing/queues", "/console/../x//"]
)
def test_sign_in_never_redirects_off_the_console(world: Any, wanted: str) -> None:
    make_operator("ana@acme.example", tenant_id=world.tenant_id)
    console = ConsoleClient()
    console.get("/console/login")
    answer = console.post("/console/login", {"email": "ana@acme.example", "password": PASSWORD, "next": wanted})
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/console/"


def test_guessing_a_password_is_rate_limited(world: Any) -> None:
    from billing.services.console.operators import LOGIN_PER_EMAIL, LOGIN_WINDOW_S

    make_operator("ana@acme.example", tenant_id=world.tenant_id)
    console = ConsoleClient()
    console.get("/console/login")
    same_window(needed_s=30, window_s=LOGIN_WINDOW_S)  # eleven Argon2 sign-ins in one window
    codes = [
        console.post("/console/login", {"email": "ana@acme.example", "password": f"guess-number-{i}"}).status_code
        for i in range(LOGIN_PER_EMAIL)
    ]
    assert codes == [401] * LOGIN_PER_EMAIL
    limited = console.post("/console/login", {"email": "ana@acme.example", "password": PASSWORD})
    assert limited.status_code == 429  # even the right password waits for the window
    assert int(limited.headers["Retry-After"]) > 0


def test_pages_need_a_session_and_a_forged_cookie_is_no_session(world: Any) -> None:
    console = ConsoleClient()
    answer = console.get("/console/queues?status=all")
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/console/login?next=/console/queues")
    console.client.set_cookie("billing_console", "eyJvIjoiMSJ9.forged.signature", path="/console")
    assert console.get("/console/").status_code == 303


def test_sign_out_ends_every_session_of_the_operator(world: Any) -> None:
    first = signed_in("ana@acme.example", tenant_id=world.tenant_id)
    second = ConsoleClient()
    second.sign_in("ana@acme.example")
    assert first.post("/console/logout").status_code == 303
    assert first.get("/console/").status_code == 303
    assert second.get("/console/").status_code == 303  # the other browser's cookie carried the old epoch


def test_a_disabled_operator_is_signed_out_at_the_next_request(world: Any) -> None:
    from billing.db.engine import unit_of_work
    from billing.services.console.operators import set_operator_active

    console = signed_in("ana@acme.example", tenant_id=world.tenant_id)
    with unit_of_work() as uow:
        set_operator_active(session=uow.session, email="ana@acme.example", active=False)
        uow.commit()
    assert console.get("/console/").status_code == 303
    console.get("/console/login")
    assert console.post("/console/login", {"email": "ana@acme.example", "password": PASSWORD}).status_code == 401


def test_the_queue_list_shows_this_tenant_only_and_a_foreign_queue_is_not_found(db: Any, world: Any) -> None:
    other = make_world(db, name="outra", instance_name="outra-loja")
    mine = make_queue(db, world, 3, template_type="overdue", status="running", counters={"sent": 1})
    theirs = make_queue(db, other, 2)
    console = signed_in("ana@acme.example", tenant_id=world.tenant_id)
    listing = console.get("/console/?status=all").get_data(as_text=True)
    assert f'data-queue-row="{mine}"' in listing
    assert str(theirs) not in listing
    detail = console.get(f"/console/queues/{mine}")
    assert detail.status_code == 200
    assert "33</span>%" in detail.get_data(as_text=True)
    assert console.get(f"/console/queues/{theirs}").status_code == 404
    assert console.get(f"/console/queues/{theirs}/progress").status_code == 404
    assert console.get("/console/queues/not-a-uuid").status_code == 404
    assert console.get("/console/?status=bogus").status_code == 422
    assert console.get("/console/?cursor=%%%").status_code == 422


def test_an_operator_pauses_and_resumes_and_each_action_is_audited(db: Any, world: Any) -> None:
    queue_id = make_queue(db, world, 3, template_type="overdue", status="running")
    console = signed_in("ana@acme.example", tenant_id=world.tenant_id)
    console.get(f"/console/queues/{queue_id}")
    answer = console.post(f"/console/queues/{queue_id}/control", {"action": "pause"})
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/console/queues/{queue_id}?msg=paused"
    db.expire_all()
    assert queue_row(db, queue_id).status == "paused"
    page = console.get(f"/console/queues/{queue_id}?msg=paused").get_data(as_text=True)
    assert "Fila pausada." in page
    assert "pausada por um operador" in page
    assert console.post(f"/console/queues/{queue_id}/control", {"action": "resume"}).status_code == 303
    db.expire_all()
    assert queue_row(db, queue_id).status != "paused"
    rows = db.execute(
        sa.text(
            "SELECT action, details->>'operator' AS who FROM audit_entries WHERE queue_id = :q ORDER BY created_at"
        ),
        {"q": queue_id},
    ).all()
    assert [(r.action, r.who) for r in rows] == [
        ("queue.pause", "console:ana@acme.example"),
        ("queue.resume", "console:ana@acme.example"),
    ]


def test_a_viewer_reads_but_may_not_act(db: Any, world: Any) -> None:
    queue_id = make_queue(db, world, 2, template_type="overdue", status="running")
    console = signed_in("vera@acme.example", role="viewer", tenant_id=world.tenant_id)
    page = console.get(f"/console/queues/{queue_id}")
    assert page.status_code == 200
    assert "/control" not in page.get_data(as_text=True)  # no action forms for a viewer
    answer = console.post(f"/console/queues/{queue_id}/control", {"action": "cancel"})
    assert answer.status_code == 403
    db.expire_all()
    assert queue_row(db, queue_id).status == "running"


def test_an_action_without_its_csrf_token_is_refused_and_changes_nothing(db: Any, world: Any) -> None:
    queue_id = make_queue(db, world, 2, template_type="overdue", status="running")
    console = signed_in("ana@acme.example", tenant_id=world.tenant_id)
    for form in ({"action": "cancel"}, {"action": "cancel", "csrf_token": "0" * 64}):
        answer = console.post(f"/console/queues/{queue_id}/control", form, csrf=False)
        assert answer.status_code == 403
        assert "token" in answer.get_data(as_text=True)
    db.expire_all()
    assert queue_row(db, queue_id).status == "running"


def test_an_operator_of_every_tenant_switches_tenants(db: Any, world: Any) -> None:
    other = make_world(db, name="outra", instance_name="outra-loja")
    theirs = make_queue(db, other, 2)
    console = signed_in("staff@platform.example", tenant_id=None)
    assert console.get(f"/console/queues/{theirs}").status_code == 404  # it looks at the first tenant by name: acme
    console.get("/console/")
    assert console.post("/console/tenant", {"tenant": str(other.tenant_id)}).status_code == 303
    assert console.get(f"/console/queues/{theirs}").status_code == 200
    assert console.post("/console/tenant", {"tenant": str(uuid.uuid4())}).status_code == 404


def test_a_tenant_operator_cannot_switch_to_another_tenant(db: Any, world: Any) -> None:
    other = make_world(db, name="outra", instance_name="outra-loja")
    theirs = make_queue(db, other, 2)
    console = signed_in("ana@acme.example", tenant_id=world.tenant_id)
    assert console.post("/console/tenant", {"tenant": str(other.tenant_id)}).status_code == 404
    assert console.get(f"/console/queues/{theirs}").status_code == 404


def test_forms_are_bounded_and_static_files_stay_in_their_folder(world: Any) -> None:
    console = signed_in("ana@acme.example", tenant_id=world.tenant_id)
    answer = console.post("/console/tenant", {"tenant": "x" * 70_000})
    assert answer.status_code == 413
    assert console.get("/console/static/console.css").status_code == 200
    assert console.get("/console/static/console.js").headers["Content-Type"].startswith("text/javascript")
    for path in ("/console/static/../app.py", "/console/static/%2e%2e/app.py", "/console/static/nope.css"):
        assert console.get(path).status_code == 404
    assert console.get("/console/no/such/page").status_code == 404


def test_the_queue_list_costs_the_same_statements_for_few_and_many_queues(db: Any, world: Any) -> None:
    from billing.db.engine import get_engine
    from support.sql import recorded_statements

    console = signed_in("ana@acme.example", tenant_id=world.tenant_id)
    counts = []
    make_queue(db, world, 2, template_type="overdue", status="running")
    console.get("/console/?status=all")  # the tenant's settings (for the ETA) are read once, then cached
    for n in (2, 30):
        while db.execute(sa.text("SELECT count(*) FROM billing_queues")).scalar_one() < n:
            make_queue(db, world, 2, template_type="overdue", status="running")
        with recorded_statements(get_engine()) as statements:
            assert console.get("/console/?status=all").status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1]
    assert counts[0] == 4, counts  # the operator, their tenants, the page, the counts per status


def test_the_console_answers_health_probes_and_metrics_without_a_session(world: Any) -> None:
    console = ConsoleClient()
    for path in ("/healthz", "/_/health", "/readyz"):
        answer = console.get(path)
        assert answer.status_code == 200, path
        assert answer.get_json() == {"status": "ok"}
    metrics = console.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["Content-Type"].startswith("text/plain")


def test_resend_sends_back_only_what_the_operator_ticked(db: Any, world: Any) -> None:
    queue_id = make_queue(
        db,
        world,
        4,
        template_type="overdue",
        status="completed",
        overrides=[{"status": "sent"}, {"status": "unknown"}, {"status": "failed"}, {"status": "sent"}],
        counters={"sent": 2, "unknown": 1, "failed": 1},
    )
    console = signed_in("ana@acme.example", tenant_id=world.tenant_id)
    console.get(f"/console/queues/{queue_id}")
    refused = console.post(f"/console/queues/{queue_id}/control", {"action": "resend"})  # nothing ticked
    assert refused.status_code == 422
    assert "escolha o que reenviar" in refused.get_data(as_text=True)
    db.expire_all()
    assert status_counts(db, queue_id) == {"sent": 2, "unknown": 1, "failed": 1}
    answer = console.post(f"/console/queues/{queue_id}/control", {"action": "resend", "statuses": "failed"})
    assert answer.status_code == 303
    db.expire_all()
    assert status_counts(db, queue_id) == {"sent": 2, "unknown": 1, "pending": 1}  # the uncertain one stays
    who = db.execute(
        sa.text("SELECT details->>'operator' FROM audit_entries WHERE queue_id = :q AND action LIKE '%resend%'"),
        {"q": queue_id},
    ).scalar_one()
    assert who == "console:ana@acme.example"


def test_an_old_session_expires_even_when_re_signed_by_a_tenant_switch(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from billing.http.console import session as cookies

    console = signed_in("ana@acme.example", tenant_id=world.tenant_id)
    cookie = console.client.get_cookie("billing_console")
    assert cookie is not None
    secret = "test-secret-key-0123456789abcdef"
    current = cookies.load(cookie.value, secret_key=secret)
    assert current is not None
    later = time.time() + cookies.MAX_AGE_S + 5
    monkeypatch.setattr(cookies.time, "time", lambda: later)
    # A cookie signed just now (as a tenant switch re-signs it) still carries the sign-in's time.
    resigned = cookies.dump(current.with_tenant(str(world.tenant_id)), secret_key=secret)
    assert cookies.load(resigned, secret_key=secret) is None


def test_sessions_survive_a_secret_key_rotation_and_end_when_the_old_key_goes(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.config import reset_settings_cache

    console = signed_in("ana@acme.example", tenant_id=world.tenant_id)
    old = "test-secret-key-0123456789abcdef"
    monkeypatch.setenv("BILLING_SECRET_KEY", f"rotated-secret-key-abcdef0123456789,{old}")
    reset_settings_cache()
    page = console.get("/console/")
    assert page.status_code == 200  # signed with the old key, accepted during the rotation
    assert console.post("/console/tenant", {"tenant": str(world.tenant_id)}).status_code == 303  # old CSRF ok
    monkeypatch.setenv("BILLING_SECRET_KEY", "rotated-secret-key-abcdef0123456789")
    reset_settings_cache()
    assert console.get("/console/").status_code == 200  # the tenant switch re-signed it with the new key
    monkeypatch.setenv("BILLING_SECRET_KEY", "another-secret-key-abcdef0123456789")
    reset_settings_cache()
    assert console.get("/console/").status_code == 303


@pytest.mark.parametrize(
    ("path", "form"),
    [("/console/logout", {}), ("/console/tenant", {"tenant": "x"}), ("/console/templates/preview", {"body": "oi"})],
)
def test_every_post_needs_its_csrf_token(world: Any, path: str, form: dict[str, str]) -> None:
    console = signed_in("ana@acme.example", tenant_id=world.tenant_id)
    assert console.post(path, form, csrf=False).status_code == 403
    assert console.get("/console/").status_code == 200  # the refused sign-out left the session alone


def test_only_a_plain_path_prefix_is_taken_for_the_console(world: Any) -> None:
    console = ConsoleClient()
    for path in ("/%5Cevil.example/console/", "/x:y/console/", "/a//console/"):
        answer = console.get(path)
        assert answer.status_code == 404, path
        assert "Location" not in answer.headers
    answer = console.get("/cobranca/console/queues")  # an ingress that keeps a prefix of its own
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/cobranca/console/login?next=/cobranca/console/queues")


def test_sign_in_keeps_every_query_parameter_of_the_page_asked_for(world: Any) -> None:
    make_operator("ana@acme.example", tenant_id=world.tenant_id)
    console = ConsoleClient()
    first = console.get("/console/queues?status=all&type=overdue")
    assert first.status_code == 303
    wanted = first.headers["Location"].split("next=", 1)[1]
    assert wanted == "/console/queues%3Fstatus%3Dall%26type%3Doverdue"
    console.get(first.headers["Location"])
    answer = console.post(
        "/console/login",
        {"email": "ana@acme.example", "password": PASSWORD, "next": "/console/queues?status=all&type=overdue"},
    )
    assert answer.headers["Location"] == "/console/queues?status=all&type=overdue"


def test_the_queue_list_counts_queues_per_status(db: Any, world: Any) -> None:
    for status in ("running", "running", "paused"):
        make_queue(db, world, 1, template_type="overdue", status=status)
    console = signed_in("ana@acme.example", tenant_id=world.tenant_id)
    page = console.get("/console/").get_data(as_text=True)
    assert "enviando: <strong>2</strong>" in page
    assert "pausada: <strong>1</strong>" in page
