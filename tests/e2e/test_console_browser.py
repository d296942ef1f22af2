"""The operator console in a real headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright;
no browser is downloaded), against ``billing dev`` with its simulator.

Run alone with ``make browser`` (``pytest -m browser``). Screenshots of every page are saved under
``.artifacts/console/`` (not committed) so a person can look at them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.dev_server import ROOT, clean_environment, drain, start_dev, stop_dev

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("BILLING_TEST_CHROMIUM", "/usr/bin/chromium")
SHOTS = ROOT / ".artifacts" / "console"
# Chromium as root in a container, with nothing reaching out to Google's hosts (the network is closed).
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip
OPERATOR = re.compile(r"sign in as (\S+), password (\S+)\)")
ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin(statement: str) -> None:
    import psycopg2

    conn = psycopg2.connect(ADMIN_URL)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def dev(template_database: str) -> Iterator[dict[str, str]]:
    """``billing dev`` on a fresh clone of the test database; this process points at the same database."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (scripts/ensure-services.sh)")
    name = f"billing_t_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = ADMIN_URL.rpartition("/")[0] + "/" + name
    data_dir = Path(tempfile.mkdtemp(prefix="console-e2e-"))
    env = {
        **clean_environment(),
        "DATABASE_URL": url,
        "BILLING_DEV_DATA_DIR": str(data_dir),
        "BILLING_DEV_SIMULATOR_PORT": "0",
        "BILLING_EVENTS_HEARTBEAT_S": "2",
    }
    proc, banner = start_dev(env, ROOT)
    output = drain(proc)
    found = OPERATOR.search("".join(output)) or _operator_line(data_dir)
    banner["operator"], banner["password"] = found
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", url)
        from billing.config import reset_settings_cache
        from billing.db.engine import dispose_engine

        reset_settings_cache()
        dispose_engine()
        try:
            yield banner
        finally:
            stop_dev(proc, signal.SIGTERM)
            dispose_engine()
            reset_settings_cache()
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            shutil.rmtree(data_dir, ignore_errors=True)


def _operator_line(data_dir: Path) -> tuple[str, str]:
    from billing.dev.bootstrap import DEMO_OPERATOR, OPERATOR_FILE

    return DEMO_OPERATOR, (data_dir / OPERATOR_FILE).read_text().strip()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def admin_state(browser: Any, dev: dict[str, str]) -> dict[str, Any]:
    """The demo admin signs in once, through the form (the sign-in limit counts every attempt)."""
    context = browser.new_context(base_url=dev["base_url"], locale="pt-BR")
    tab = context.new_page()
    sign_in(tab, dev["operator"], dev["password"])
    shot(tab, "00-signed-in")
    state: dict[str, Any] = context.storage_state()
    context.close()
    return state


@pytest.fixture
def page(browser: Any, dev: dict[str, str], admin_state: dict[str, Any]) -> Iterator[Any]:
    """A fresh browser profile holding the demo admin's session."""
    context = browser.new_context(base_url=dev["base_url"], locale="pt-BR", storage_state=admin_state)
    context.set_default_timeout(20_000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(tab: Any, email: str, password: str) -> None:
    tab.goto("/console/login")
    shot(tab, "00-login")
    tab.get_by_label("E-mail").fill(email)
    tab.get_by_label("Senha").fill(password)
    tab.get_by_role("button", name="Entrar").click()
    tab.wait_for_url(re.compile(r".*/console/(\?.*)?$"))


def shot(tab: Any, name: str) -> None:
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def post_batch(dev: dict[str, str], n: int, *, external_id: str, first: int = 0) -> str:
    contacts = [
        {
            "phone": f"+55 11 9{first + i:04d}-{first + i:04d}",
            "name": f"Cliente {first + i}",
            "due_date": "2026-11-20",
            "amount": "150.90",
            "invoice_id": f"NF-{first + i}",
            "payment_link": "https://pagar.exemplo.com.br/x",
        }
        for i in range(n)
    ]
    answer = httpx.post(
        f"{dev['base_url']}/api/v1/billing/send/overdue",
        json={"external_id": external_id, "contacts": contacts},
        headers={"X-Billing-API-Key": dev["api_key"]},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["queue_id"])


def phone(k: int) -> str:
    """The E.164 digits of the k-th contact ``post_batch`` makes."""
    return f"55119{k:04d}{k:04d}"


def sent_to(dev: dict[str, str], numbers: range) -> int:
    """How many of these contacts the simulator has received a message for."""
    messages = httpx.get(f"{dev['simulator']}/_sim/messages", timeout=5).json()
    wanted = {phone(k) for k in numbers}
    return sum(1 for m in messages if str(m["number"]).lstrip("+") in wanted)


def test_a_queue_progress_bar_moves_to_completed_while_the_simulator_receives_the_messages(
    page: Any, dev: dict[str, str]
) -> None:
    page.goto("/console/?status=all")
    shot(page, "01-queues-empty")
    queue_id = post_batch(dev, 6, external_id="lote-ao-vivo", first=100)
    with page.expect_response(lambda r: "/api/v1/billing/events" in r.url) as stream:
        page.goto("/console/?status=all")
    # The bar follows the event stream (with the session cookie), not only the polling fallback.
    assert stream.value.status == 200
    assert stream.value.headers["content-type"].startswith("text/event-stream")
    bar = page.locator(f"tr[data-queue-row='{queue_id}'] .progress")
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # no reload: the page follows the event stream
        seen.add(int(bar.get_attribute("aria-valuenow") or 0))
        if bar.get_attribute("data-status") == "completed":
            break
        time.sleep(0.2)
    assert bar.get_attribute("data-status") == "completed"
    assert bar.get_attribute("aria-valuenow") == "100"
    assert len(seen - {100}) >= 2, f"the bar jumped instead of moving: {sorted(seen)}"
    assert sent_to(dev, range(100, 106)) == 6
    expect_text(page, f"tr[data-queue-row='{queue_id}']", "concluída")
    shot(page, "02-queues-completed")
    page.get_by_role("link", name="lote-ao-vivo").click()
    expect_text(page, "main", "Cliente 105")
    shot(page, "03-queue-detail")


def expect_text(tab: Any, selector: str, text: str) -> None:
    from playwright.sync_api import expect

    expect(tab.locator(selector).first).to_contain_text(text)


def test_pause_and_resume_from_the_queue_page(page: Any, dev: dict[str, str]) -> None:
    queue_id = post_batch(dev, 40, external_id="lote-pausa", first=200)
    page.goto(f"/console/queues/{queue_id}")
    page.get_by_role("button", name="Pausar").click()
    expect_text(page, "main", "Fila pausada.")
    expect_text(page, "main", "pausada por um operador")
    phones = range(200, 240)
    time.sleep(1.0)  # a call already in flight when the pause committed may still land
    after_pause = sent_to(dev, phones)
    time.sleep(3.0)
    assert sent_to(dev, phones) == after_pause, "messages went out while the queue was paused"
    shot(page, "04-queue-paused")
    page.get_by_role("button", name="Retomar").click()
    expect_text(page, "main", "Fila retomada.")
    deadline = time.monotonic() + 20
    while sent_to(dev, phones) == after_pause and time.monotonic() < deadline:
        time.sleep(0.3)
    assert sent_to(dev, phones) > after_pause, "the queue did not resume sending"
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancelar fila").click()
    expect_text(page, "main", "Fila cancelada.")


def test_a_customer_reply_is_read_in_the_inbox_and_closed(page: Any, dev: dict[str, str]) -> None:
    queue_id = post_batch(dev, 1, external_id="lote-resposta", first=300)
    deadline = time.monotonic() + 30
    while sent_to(dev, range(300, 301)) < 1 and time.monotonic() < deadline:
        time.sleep(0.3)
    answer = httpx.post(
        f"{dev['simulator']}/_sim/reply",
        json={"instance": "demo", "number": phone(300), "text": "Já paguei ontem, segue o comprovante"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    page.goto("/console/inbox")
    expect_text(page, "main", "Já paguei ontem")
    shot(page, "05-inbox")
    page.locator("main a[href*='/console/inbox/']").first.click()
    expect_text(page, "main", "Já paguei ontem, segue o comprovante")
    expect_text(page, "main", "NF-300")
    shot(page, "06-conversation")
    page.get_by_role("button", name="Encerrar conversa").click()
    expect_text(page, "main", "Conversa encerrada.")
    page.goto(f"/console/queues/{queue_id}")
    expect_text(page, "main", "Cliente 300")


def test_editing_a_template_changes_its_live_preview(page: Any, dev: dict[str, str]) -> None:
    page.goto("/console/templates")
    shot(page, "07-templates")
    page.locator("main a[href*='/console/templates/']").first.click()
    body = page.locator("#body")
    body.fill("Olá {{nome}}, lembrete do teste ao vivo de {{valor}}.")
    expect_text(page, "#preview", "Olá Maria Silva, lembrete do teste ao vivo de")
    shot(page, "08-template-preview")
    body.fill("Olá {{nome}}, valor {{valro}}.")
    expect_text(page, "#preview .field-error", "Você quis dizer {{valor}}")
    body.fill("Oi {{nome}}, sua fatura de {{valor}} venceu.")
    expect_text(page, "#preview", "Oi Maria Silva, sua fatura de")
    page.locator("#template-form button[type=submit]").first.click()
    expect_text(page, "main", "Alterações salvas.")
    assert "sua fatura de {{valor}} venceu" in page.locator("#body").input_value()


def test_an_api_key_is_created_shown_once_and_revoked(page: Any, dev: dict[str, str]) -> None:
    page.goto("/console/settings")
    shot(page, "09-settings")
    name = f"erp-{uuid.uuid4().hex[:6]}"
    form = page.locator("form[action$='/settings/keys']")
    form.get_by_label(re.compile("Nome", re.I)).fill(name)
    form.locator("button[type=submit]").click()
    key = page.locator("#new-key").inner_text().strip()
    assert key.startswith("bk_"), key
    shot(page, "10-key-created")
    probe = f"{dev['base_url']}/api/v1/billing/queues?external_id=nada"
    assert httpx.get(probe, headers={"X-Billing-API-Key": key}, timeout=10).status_code == 200
    page.goto("/console/settings")
    assert key not in page.content()  # shown once
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"form[action$='/settings/keys/{name}/revoke'] button").click()
    expect_text(page, "main", "Chave revogada.")
    assert httpx.get(probe, headers={"X-Billing-API-Key": key}, timeout=10).status_code == 401


def test_a_viewer_is_refused_an_action(browser: Any, dev: dict[str, str]) -> None:
    from billing.db.engine import unit_of_work
    from billing.services.admin import resolve_tenant
    from support.console import make_operator

    with unit_of_work() as uow:
        tenant_id = resolve_tenant("demo", session=uow.session).id
    password = make_operator("viewer@demo.example", role="viewer", tenant_id=tenant_id)
    queue_id = post_batch(dev, 30, external_id="lote-viewer", first=400)
    context = browser.new_context(base_url=dev["base_url"])
    tab = context.new_page()
    try:
        sign_in(tab, "viewer@demo.example", password)
        tab.goto(f"/console/queues/{queue_id}")
        assert tab.get_by_role("button", name="Pausar").count() == 0  # no action offered
        token = tab.locator("input[name=csrf_token]").first.get_attribute("value")
        status = tab.evaluate(
            """async ([url, token]) => (await fetch(url, {method: "POST", body: new URLSearchParams(
                {csrf_token: token, action: "cancel"})})).status""",
            [f"/console/queues/{queue_id}/control", token],
        )
        assert status == 403
        tab.goto(f"/console/queues/{queue_id}")
        assert "cancelada" not in tab.locator(".summary .status").inner_text()
        shot(tab, "11-viewer")
    finally:
        context.close()
        httpx.post(
            f"{dev['base_url']}/api/v1/billing/queue/{queue_id}/control",
            json={"action": "cancel"},
            headers={"X-Billing-API-Key": dev["api_key"]},
            timeout=10,
        )


def test_another_tenants_queue_is_not_found(page: Any, dev: dict[str, str]) -> None:
    from support.factories import make_queue, make_world

    other = make_world(name=f"outra{uuid.uuid4().hex[:6]}", instance_name="outra-loja")
    foreign = make_queue(None, other, 2)
    answer = page.goto(f"/console/queues/{foreign}")
    assert answer is not None and answer.status == 404
    expect_text(page, "h1", "Não encontrado")
    assert "Cliente" not in page.content()
    shot(page, "12-not-found")


def test_a_form_without_its_csrf_token_is_refused(page: Any, dev: dict[str, str]) -> None:
    queue_id = post_batch(dev, 30, external_id="lote-csrf", first=500)
    page.goto(f"/console/queues/{queue_id}")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    page.get_by_role("button", name="Pausar").click()
    expect_text(page, "main", "não trouxe um token válido")
    shot(page, "13-csrf-refused")
    page.goto(f"/console/queues/{queue_id}")
    assert "pausada" not in page.locator(".summary .status").inner_text()
    with contextlib.suppress(Exception):
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Cancelar fila").click()


def test_every_page_labels_its_fields_and_fits_a_phone(
    browser: Any, dev: dict[str, str], admin_state: dict[str, Any]
) -> None:
    context = browser.new_context(
        base_url=dev["base_url"], viewport={"width": 390, "height": 844}, is_mobile=True, storage_state=admin_state
    )
    tab = context.new_page()
    try:
        for path in ("/console/", "/console/inbox", "/console/instances", "/console/templates", "/console/settings"):
            answer = tab.goto(path)
            assert answer is not None and answer.status == 200, path
            unlabeled = tab.evaluate(
                """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                    .map(e => e.name || e.id)"""
            )
            assert unlabeled == [], f"{path}: fields without a label: {unlabeled}"
            overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} scrolls sideways by {overflow}px on a phone"
            shot(tab, "phone-" + (path.strip("/").replace("/", "-") or "console"))
    finally:
        context.close()


def test_the_keyboard_alone_signs_in_and_skips_to_the_content(browser: Any, dev: dict[str, str]) -> None:
    context = browser.new_context(base_url=dev["base_url"])
    tab = context.new_page()
    try:
        tab.goto("/console/login")
        focused = "() => document.activeElement && (document.activeElement.id || document.activeElement.tagName)"
        assert tab.evaluate(focused) == "email"  # the form starts where the typing starts
        tab.keyboard.type(dev["operator"])
        tab.keyboard.press("Tab")
        assert tab.evaluate(focused) == "password"
        tab.keyboard.type(dev["password"])
        tab.keyboard.press("Tab")
        assert tab.evaluate("() => document.activeElement.textContent.trim()") == "Entrar"
        tab.keyboard.press("Enter")
        tab.wait_for_url(re.compile(r".*/console/(\?.*)?$"))
        tab.keyboard.press("Tab")  # the first stop is the skip link, and it shows itself
        assert tab.evaluate("() => document.activeElement.className") == "skip"
        box = tab.locator("a.skip").bounding_box()
        assert box is not None and box["x"] >= 0
        tab.keyboard.press("Enter")
        assert tab.evaluate(focused) == "main"
        tab.keyboard.press("Tab")
        assert tab.evaluate(focused) == "f-status"  # then the page's own content, its filters first
        shot(tab, "14-keyboard")
    finally:
        context.close()
