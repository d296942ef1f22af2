"""Operator console pages' latency with a 1,000,000-contact tenant.

    .venv/bin/python bench/console.py [--contacts 1000000] [--seconds 5] [--clients 4] [--json]

Acceptance: every page of the console answers in <= 100 ms p50 with a 1M-contact tenant.

Creates a fresh migrated database and fills one tenant the way a year of use would leave it: 200 queues
(newest first: running, paused by an operator, outside business hours, parked on an instance whose key
the gateway refused or that is disconnected, scheduled, pending; then completed ones, a few cancelled)
sharing ``--contacts`` contacts through INSERT ... SELECT generate_series (sent, failed, unknown,
skipped, expired, cancelled, pending), one customer per ten contacts (each phone reminded about ten
times), the chat history the sender writes (a conversation per phone and instance, an outbound message
per sent contact), 2,000 open conversations with unread customer replies (and 1,000 answered and closed),
four instances (healthy, disconnected, key refused), extra templates with 2-5 variations (some off),
business hours with two windows a day, closed dates, API keys (read-only, revoked) and one ERP webhook
endpoint with its recent deliveries. An admin operator (``create_operator``) signs in through the real
form (``GET /console/login`` for the CSRF field and the login cookie, then ``POST /console/login``).

The console function runs under ``functions-framework`` as one replica per CPU (one gunicorn worker
with ``--threads`` threads each, as pods would run it), and ``--clients`` closed-loop keep-alive clients
(default 4: a few people use the console, not an ERP) spread over the replicas ask for one page at a time,
for ``--seconds`` per page after a warm-up, with random queues, conversations and template variations.
A page that answers 404 while no console route serves its path is "missing" (not built yet), never a
pass; any other answer than 200 from a built page is an error and the run exits 1. ``--json`` prints only
``{"pages": {<page>: {"p50_ms", "p99_ms", "requests_per_s"}}, "max_p50_ms", "contacts", "missing"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import psycopg2
from _support import HttpConnection, free_port, scratch_database

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-key-0123456789abcdef"
EMAIL = "bench-admin@example.com"
PASSWORD = "bench-password-0123"
TARGET_MS = 100.0
QUEUES = 200
ACTIVE = 40  # the newest queues are still under way; the rest finished
OPEN_CONVERSATIONS = 2_000
ANSWERED_CONVERSATIONS = 1_000
DELIVERIES = 100  # what the sweeper keeps of each endpoint (billing.db.endpoints.DELIVERIES_KEPT)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
# Instances: (name, health); the queues of the last two are parked instance_down.
INSTANCES = (("loja", "open"), ("filial", "open"), ("cobranca", "close"), ("suporte", "auth_failed"))
AUTH_FAILED_REASON = (
    "auth_failed: the gateway refused this instance's API key; set it with billing instance update --api-key"
)

# One row per queue: what it is and how far it got (``done``: the share of its contacts with an outcome).
# ``r`` is its rank, 0 the newest. Instance ids come in the order of INSTANCES.
_PLAN = """
CREATE TEMP TABLE plan AS
SELECT g AS idx, r, gen_random_uuid() AS queue_id, gen_random_uuid() AS campaign_id, s.status,
       CASE WHEN s.status = 'instance_down' AND r < 23 THEN i[4]
            WHEN s.status = 'instance_down' THEN i[3]
            WHEN r %% 13 = 5 AND r >= %(active)s THEN i[3]
            ELSE i[1 + r %% 2] END AS instance_id,
       t.template_type, CASE t.template_type WHEN 'overdue' THEN 10 WHEN 'upcoming' THEN 5 ELSE 1 END AS priority,
       CASE s.status WHEN 'running' THEN 0.5 WHEN 'paused' THEN 0.3 WHEN 'paused_business_hours' THEN 0.4
            WHEN 'instance_down' THEN 0.25 WHEN 'cancelled' THEN 0.7 WHEN 'completed' THEN 1.0 ELSE 0 END AS done,
       CASE s.status WHEN 'paused' THEN 'paused by console:ops@example.com'
            WHEN 'instance_down' THEN CASE WHEN r < 23 THEN %(auth_failed)s ELSE 'instance close' END END
           AS paused_reason,
       CASE WHEN s.status = 'paused_business_hours' THEN date_trunc('day', now()) + interval '1 day 11 hours' END
           AS resume_at,
       CASE WHEN s.status = 'scheduled' THEN now() + (r - 24) * interval '1 day' END AS scheduled_for,
       now() - r * interval '20 hours' - interval '1 hour' AS created_at
  FROM generate_series(1, %(queues)s) g
 CROSS JOIN LATERAL (SELECT %(queues)s - g AS r) rank
 CROSS JOIN LATERAL (SELECT CAST(%(instances)s AS uuid[]) AS i) ids
 CROSS JOIN LATERAL (SELECT CASE WHEN r < 10 THEN 'running' WHEN r < 15 THEN 'paused'
                                 WHEN r < 20 THEN 'paused_business_hours' WHEN r < 25 THEN 'instance_down'
                                 WHEN r < 30 THEN 'scheduled' WHEN r < %(active)s THEN 'pending'
                                 WHEN r %% 15 = 4 THEN 'cancelled' ELSE 'completed' END AS status) s
 CROSS JOIN LATERAL (SELECT CASE r %% 10 WHEN 3 THEN 'upcoming' WHEN 7 THEN 'notification' ELSE 'overdue' END
                        AS template_type) t
"""
_QUEUES = """
INSERT INTO billing_campaigns (id, tenant_id, external_id, request_hash, template_id, instance_id, template_type,
                               priority, scheduled_for, created_at)
SELECT p.campaign_id, %(tenant)s, 'lote-' || to_char(p.created_at, 'YYYY-MM-DD') || '-' || p.idx, md5(p.idx::text),
       tpl.id, p.instance_id, p.template_type, p.priority, p.scheduled_for, p.created_at
  FROM plan p
  JOIN templates tpl ON tpl.tenant_id = %(tenant)s AND tpl.template_type = p.template_type AND tpl.is_default;

INSERT INTO billing_queues (id, tenant_id, campaign_id, instance_id, template_type, priority, status, total,
                            sent, failed, cancelled, unknown, expired, skipped, delivered, read,
                            paused_reason, resume_at, scheduled_for, published_at, created_at, updated_at,
                            started_at, completed_at)
SELECT p.queue_id, %(tenant)s, p.campaign_id, p.instance_id, p.template_type, p.priority, p.status, %(per_queue)s,
       0, 0, 0, 0, 0, 0, 0, 0,
       p.paused_reason, p.resume_at, p.scheduled_for, p.created_at, p.created_at, p.created_at,
       CASE WHEN p.done > 0 THEN p.created_at + interval '1 minute' END,
       CASE WHEN p.status IN ('completed', 'cancelled') THEN p.created_at + interval '6 hours' END
  FROM plan p
"""
_CONTACTS = """
INSERT INTO billing_contacts (id, tenant_id, queue_id, position, phone, name, due_date, amount, invoice_id, message,
                              rendered_on, status, attempts, last_error, sent_at, delivery_status, updated_at)
SELECT gen_random_uuid(), %(tenant)s, p.queue_id, g, '+55119' || lpad(k::text, 8, '0'), 'Cliente ' || k,
       p.created_at::date - 3, 100 + (g %% 900) + 0.9, 'NF-' || p.idx || '-' || g,
       'Olá Cliente ' || k || ', a fatura NF-' || p.idx || '-' || g || ' venceu. Para não receber mais lembretes, '
       || 'responda SAIR.', p.created_at::date, s.status,
       CASE WHEN s.status IN ('pending', 'cancelled') THEN 0 WHEN s.status = 'sent' THEN 1 ELSE 3 END,
       CASE s.status WHEN 'failed' THEN 'number is not on WhatsApp'
                     WHEN 'unknown' THEN 'no answer from the gateway in 30 s' END,
       CASE WHEN s.status = 'sent' THEN p.created_at + g * interval '4 seconds' END,
       CASE WHEN s.status = 'sent' THEN (CASE WHEN g %% 3 = 0 THEN 'read' ELSE 'delivered' END) END,
       p.created_at + g * interval '4 seconds'
  FROM plan p CROSS JOIN generate_series(0, %(per_queue)s - 1) g
 CROSS JOIN LATERAL (SELECT (p.idx * %(per_queue)s + g) %% %(customers)s AS k) c
 CROSS JOIN LATERAL (
       SELECT CASE WHEN g >= p.done * %(per_queue)s
                   THEN CASE WHEN p.status = 'cancelled' THEN 'cancelled' ELSE 'pending' END
                   WHEN g %% 50 = 7 THEN 'failed' WHEN g %% 100 = 13 THEN 'unknown' WHEN g %% 200 = 21 THEN 'skipped'
                   WHEN g %% 250 = 33 THEN 'expired' ELSE 'sent' END AS status) s
"""
_COUNTERS = """
UPDATE billing_queues q
   SET sent = c.sent, failed = c.failed, unknown = c.unknown, cancelled = c.cancelled, skipped = c.skipped,
       expired = c.expired, delivered = c.sent * 9 / 10, read = c.sent / 3
  FROM (SELECT queue_id, count(*) FILTER (WHERE status = 'sent') AS sent,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status = 'unknown') AS unknown,
               count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE status = 'skipped') AS skipped,
               count(*) FILTER (WHERE status = 'expired') AS expired
          FROM billing_contacts GROUP BY queue_id) c
 WHERE q.id = c.queue_id
"""
# The chat history the sender writes with every sent reminder (billing_record_send): one conversation per
# phone and instance, closed, and an outbound message per sent contact.
_CHATS = """
INSERT INTO conversations (id, tenant_id, instance_id, phone, is_open, closed_at, last_message_at, unread,
                           created_at)
SELECT gen_random_uuid(), c.tenant_id, q.instance_id, c.phone, false, max(c.sent_at), max(c.sent_at), 0,
       min(c.sent_at)
  FROM billing_contacts c JOIN billing_queues q ON q.id = c.queue_id
 WHERE c.status = 'sent'
 GROUP BY c.tenant_id, q.instance_id, c.phone;

INSERT INTO messages (id, tenant_id, conversation_id, contact_id, direction, body, status, created_at)
SELECT gen_random_uuid(), c.tenant_id, cv.id, c.id, 'out', c.message, 'sent', c.sent_at
  FROM billing_contacts c JOIN billing_queues q ON q.id = c.queue_id
  JOIN conversations cv ON cv.tenant_id = c.tenant_id AND cv.instance_id = q.instance_id AND cv.phone = c.phone
 WHERE c.status = 'sent'
"""
# Customers who wrote back after their last reminder: the first OPEN_CONVERSATIONS (in a random order)
# still unread, the next ANSWERED_CONVERSATIONS answered and closed; 1 to 3 messages each.
_REPLIES = """
CREATE TEMP TABLE replied AS
SELECT id, tenant_id, last_message_at AS after, n, 1 + n %% 3 AS k, n <= %(open)s AS open
  FROM (SELECT id, tenant_id, last_message_at, row_number() OVER (ORDER BY md5(id::text)) AS n
          FROM conversations) x
 WHERE n <= %(open)s + %(answered)s;

UPDATE conversations cv
   SET is_open = r.open, unread = CASE WHEN r.open THEN r.k ELSE 0 END,
       last_inbound_at = r.after + r.k * interval '7 minutes', last_message_at = r.after + r.k * interval '7 minutes',
       closed_at = CASE WHEN r.open THEN NULL ELSE r.after + interval '2 hours' END
  FROM replied r WHERE cv.id = r.id;

INSERT INTO messages (id, tenant_id, conversation_id, direction, body, status, created_at)
SELECT gen_random_uuid(), r.tenant_id, r.id, 'in',
       (ARRAY['Já paguei, segue o comprovante.', 'Posso pagar na semana que vem?', 'Qual o valor atualizado?',
              'Não reconheço essa cobrança.', 'Pode mandar o boleto de novo? O link não abre.'])[1 + (r.n + m) %% 5],
       NULL, r.after + m * interval '7 minutes'
  FROM replied r CROSS JOIN LATERAL generate_series(1, r.k) m
"""
_DELIVERIES = """
INSERT INTO billing_endpoint_deliveries (tenant_id, endpoint_id, event_id, event_type, attempt, status_code, outcome,
                                         error, duration_ms, attempted_at)
SELECT ep.tenant_id, ep.id, 1000 + g,
       (ARRAY['queue.started', 'contact.failed', 'queue.completed', 'queue.paused'])[1 + g %% 4],
       CASE WHEN g %% 9 = 0 THEN 2 ELSE 1 END, CASE WHEN g %% 9 = 0 THEN 503 ELSE 200 END,
       CASE WHEN g %% 9 = 0 THEN 'failed' ELSE 'delivered' END, CASE WHEN g %% 9 = 0 THEN 'HTTP 503' END,
       40 + g %% 200, now() - (%(deliveries)s - g) * interval '3 minutes'
  FROM billing_endpoints ep CROSS JOIN generate_series(1, %(deliveries)s) g
"""


@dataclass(frozen=True)
class Seeded:
    contacts: int
    queues: list[str]
    conversations: list[str]  # the open ones (with unread customer messages)
    variations: list[tuple[str, int]]  # (template name, position)


def _configure(url: str) -> None:
    """The tenant's settings, instances, templates, keys and endpoint, through the services; its operator."""
    os.environ.update(DATABASE_URL=url, BILLING_SECRET_KEY=SECRET, BILLING_LOG_LEVEL="WARNING")
    from billing.config import get_settings, reset_settings_cache
    from billing.db.engine import dispose_engine, unit_of_work
    from billing.db.models import TemplateVariation
    from billing.services import admin
    from billing.services.admin.credentials import revoke_api_key
    from billing.services.admin.templates import add_template
    from billing.services.console.operators import create_operator
    from billing.services.webhooks_out.endpoints import add_endpoint
    from sqlmodel import select

    reset_settings_cache()
    now = datetime.now(UTC)
    with unit_of_work() as uow:
        session = uow.session
        tenant = admin.create_tenant("bench", display_name="Bench Telecom Ltda", session=session)
        for n, (name, health) in enumerate(INSTANCES):
            instance = admin.add_instance(tenant, session=session, name=name, url=f"http://127.0.0.1:{n + 1}",
                                          api_key=f"gateway-key-{n}", secret_key=SECRET)  # fmt: skip
            instance.health_state, instance.health_checked_at = health, now - timedelta(seconds=30 * (n + 1))
            instance.daily_count, instance.daily_count_date = 1_234 * (n + 1), now.date()
            session.add(instance)
        admin.set_config(tenant, session=session, throttle_per_minute=30, jitter_s=3.0, daily_cap=8_000,
                         opt_out_keywords=["sair", "parar", "cancelar", "stop"])  # fmt: skip
        admin.set_hours(tenant, session=session, weekdays=[0, 1, 2, 3, 4], start=clock(8), end=clock(12))
        admin.set_hours(tenant, session=session, weekdays=[0, 1, 2, 3, 4], start=clock(13), end=clock(18), add=True)
        admin.set_hours(tenant, session=session, weekdays=[5], start=clock(9), end=clock(13))
        for days, reason in ((9, "Feriado municipal"), (23, "Recesso"), (40, "Inventário"), (75, None)):
            admin.add_closed_date(tenant, session=session, day=date.today() + timedelta(days=days), reason=reason)
        for template_type, names in (
            ("overdue", ("cobranca-formal", "cobranca-amigavel", "cobranca-final")),
            ("upcoming", ("vencimento-amanha", "vencimento-semana")),
            ("notification", ("aviso-manutencao",)),
        ):
            for t, name in enumerate(names):
                count = 2 + (t + len(name)) % 4
                bodies = [
                    f"{'Olá' if v % 2 else 'Oi'}, {{{{nome}}}}! Variação {v} de {name}: a fatura {{{{fatura}}}} de "
                    f"*{{{{valor}}}}* vence(u) em {{{{vencimento}}}}. Para não receber mais lembretes, responda SAIR. "
                    "{{empresa}}"
                    for v in range(1, count + 1)
                ]
                template = add_template(tenant, session=session, template_type=template_type, name=name, bodies=bodies,
                                        weights=[1 + v % 3 for v in range(count)])  # fmt: skip
                if count > 2:  # the last variation of the longer ones is switched off
                    last = session.exec(
                        select(TemplateVariation).where(
                            TemplateVariation.template_id == template.id, TemplateVariation.position == count
                        )
                    ).one()
                    last.active = False
                    session.add(last)
        for k in range(12):
            admin.create_api_key(tenant, session=session, name=f"erp-{k}", read_only=k % 3 == 2,
                                 types=["overdue", "upcoming"] if k % 4 == 1 else None)  # fmt: skip
        for k in (10, 11):
            revoke_api_key(tenant, session=session, name=f"erp-{k}")
        create_operator(session=session, email=EMAIL, role="admin", tenant_id=tenant.id, password=PASSWORD)
        uow.commit()
    with unit_of_work() as uow:
        add_endpoint("bench", uow=uow, url="https://erp.example.com/webhooks/billing",
                     events="queue.*,contact.failed", secret=None, settings=get_settings())  # fmt: skip
    dispose_engine()


def prepare_database(url: str, contacts: int, log: bool) -> Seeded:
    _configure(url)
    per_queue = contacts // QUEUES
    started = time.perf_counter()
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("UPDATE api_keys SET last_used_at = now() - interval '5 minutes' WHERE name = 'erp-0'")
            cur.execute("SELECT id FROM tenants")
            tenant = cur.fetchone()[0]  # type: ignore[index]
            cur.execute("SELECT name, id FROM whatsapp_instances")
            ids = dict(cur.fetchall())
            instances = [str(ids[name]) for name, _ in INSTANCES]
            cur.execute(
                _PLAN, {"queues": QUEUES, "active": ACTIVE, "instances": instances, "auth_failed": AUTH_FAILED_REASON}
            )
            cur.execute(_QUEUES, {"tenant": tenant, "per_queue": per_queue})
            cur.execute(_CONTACTS, {"tenant": tenant, "per_queue": per_queue, "customers": max(1, contacts // 10)})
            cur.execute(_COUNTERS)
            cur.execute(_CHATS)
            cur.execute(_REPLIES, {"open": OPEN_CONVERSATIONS, "answered": ANSWERED_CONVERSATIONS})
            cur.execute(_DELIVERIES, {"deliveries": DELIVERIES})
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
            # Settle the seed's writes so the checkpointer does not flush them during the run.
            with contextlib.suppress(psycopg2.errors.InsufficientPrivilege):
                cur.execute("CHECKPOINT")
            cur.execute("SELECT id FROM billing_queues")
            queues = [str(r[0]) for r in cur.fetchall()]
            cur.execute("SELECT id FROM conversations WHERE is_open")
            conversations = [str(r[0]) for r in cur.fetchall()]
            cur.execute(
                "SELECT t.name, v.position FROM template_variations v JOIN templates t ON t.id = v.template_id"
                " ORDER BY t.name, v.position"
            )
            variations = [(str(name), int(position)) for name, position in cur.fetchall()]
            cur.execute("SELECT count(*) FROM billing_contacts")
            total = int(cur.fetchone()[0])  # type: ignore[index]
            cur.execute("SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)")
            chats, messages = cur.fetchone()  # type: ignore[misc]
    finally:
        conn.close()
    if log:
        sys.stderr.write(
            f"seeded {total:,} contacts in {len(queues)} queues, {chats:,} conversations "
            f"({len(conversations):,} open), {messages:,} messages in {time.perf_counter() - started:.1f} s\n"
        )
    return Seeded(total, queues, conversations, variations)


def start_server(url: str, port: int, threads: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "BILLING_SECRET_KEY": SECRET,
        "BILLING_LOG_LEVEL": "WARNING",
        "BILLING_IP_RATE_LIMIT_PER_MINUTE": str(10**9),
        "BILLING_DB_POOL_SIZE": str(threads),
        "WORKERS": "1",
        "THREADS": str(threads),
    }
    command = [
        str(Path(sys.executable).parent / "functions-framework"),
        "--source", str(ROOT / "functions/console/main.py"), "--target", "console", "--port", str(port),
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)


def wait_started(server: subprocess.Popen[bytes], port: int, *, seconds: float = 30.0) -> None:
    """Until the sign-in page answers 200 (the console has no /healthz of its own)."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the console function exited with {server.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/console/login", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the console function did not start")


def sign_in(port: int) -> str:
    """The session cookie, through the sign-in form as a browser would get it."""
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as client:
        form = client.get("/console/login")
        found = CSRF.search(form.text)
        if form.status_code != 200 or found is None:
            raise RuntimeError(f"no sign-in form: {form.status_code} {form.text[:300]}")
        answer = client.post(
            "/console/login",
            data={"csrf_token": found.group(1), "email": EMAIL, "password": PASSWORD, "next": "/console/"},
        )
        cookie = answer.cookies.get("billing_console")
        if answer.status_code != 303 or not cookie:
            raise RuntimeError(f"sign-in refused: {answer.status_code} {answer.text[:300]}")
        return str(cookie)


Paths = Callable[[random.Random], str]


def pages(seeded: Seeded) -> dict[str, Paths]:
    """Each page the bench asks for and how it picks the next address (random queues, conversations...)."""

    def queue(suffix: str = "") -> Paths:
        return lambda rng: f"/console/queues/{rng.choice(seeded.queues)}{suffix}"

    def conversation(rng: random.Random) -> str:
        return f"/console/inbox/{rng.choice(seeded.conversations)}"

    def variation(rng: random.Random) -> str:
        name, position = rng.choice(seeded.variations)
        return f"/console/templates/{name}/{position}"

    return {
        "queues": lambda rng: "/console/",
        "queues?status=all": lambda rng: "/console/?status=all",
        "queue": queue(),
        "queue?status=failed,unknown": queue("?status=failed,unknown"),
        "queue progress": queue("/progress"),
        "inbox": lambda rng: "/console/inbox",
        "inbox?state=all": lambda rng: "/console/inbox?state=all",
        "conversation": conversation,
        "instances": lambda rng: "/console/instances",
        "templates": lambda rng: "/console/templates",
        "template variation": variation,
        "settings": lambda rng: "/console/settings",
    }


def routed(path: str) -> bool | None:
    """Whether a console GET route serves ``path`` in the code as it is now (None: the routes do not import,
    another helper may be writing them)."""
    rest = path.partition("?")[0].removeprefix("/console") or "/"
    try:
        from billing.http.console.pages import ROUTES

        return any(r.method == "GET" and r.pattern.match(rest) for r in ROUTES)
    except Exception:
        return None


async def _load(
    ports: list[int], cookie: str, path_of: Paths, clients: int, seconds: float, seed: int
) -> tuple[list[float], Counter[int], str]:
    """``clients`` closed-loop clients, spread evenly over the replicas like a service's balancer."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    sample = ""
    deadline = time.perf_counter() + seconds

    async def client(n: int) -> None:
        nonlocal sample
        rng = random.Random(seed * 1000 + n)
        port = ports[n % len(ports)]
        headers = f"Host: 127.0.0.1:{port}\r\nCookie: billing_console={cookie}\r\nAccept: text/html\r\n"
        connection = HttpConnection("127.0.0.1", port, headers)
        try:
            while time.perf_counter() < deadline:
                path = path_of(rng)
                started = time.perf_counter()
                status, body = await connection.get(path)
                latencies.append(time.perf_counter() - started)
                statuses[status] += 1
                if status != 200 and not sample:
                    text = " ".join(re.sub(r"<[^>]+>", " ", body.decode(errors="replace")).split())
                    sample = f"{path} -> {status}: {text[:300]}"
        finally:
            connection.close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies, statuses, sample


@dataclass
class Result:
    page: str
    path: str
    state: str  # "measured", "missing"
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests_per_s: float = 0.0
    statuses: Counter[int] | None = None
    sample: str = ""

    @property
    def errors(self) -> int:
        return sum(n for code, n in (self.statuses or Counter()).items() if code != 200)

    @property
    def verdict(self) -> str:
        if self.state == "missing":
            return "missing"
        if self.errors:
            return "ERROR"
        return "ok" if self.p50_ms <= TARGET_MS else "MISSED"


def _quantile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def measure(ports: list[int], cookie: str, seeded: Seeded, args: argparse.Namespace) -> list[Result]:
    results = []
    for n, (page, path_of) in enumerate(pages(seeded).items()):
        if args.only and page not in args.only:
            continue
        probe = path_of(random.Random(n))
        status, _ = asyncio.run(_probe(ports[0], cookie, probe))
        if status == 404 and routed(probe) is not True:
            results.append(Result(page, probe, "missing", statuses=Counter({404: 1})))
            continue
        asyncio.run(_load(ports, cookie, path_of, args.clients, args.warmup, seed=n))  # pools, caches, plans
        started = time.perf_counter()
        latencies, statuses, sample = asyncio.run(_load(ports, cookie, path_of, args.clients, args.seconds, seed=n))
        elapsed = time.perf_counter() - started
        results.append(
            Result(
                page,
                probe,
                "measured",
                p50_ms=round(_quantile(latencies, 50) * 1000, 2),
                p99_ms=round(_quantile(latencies, 99) * 1000, 2),
                requests_per_s=round(len(latencies) / elapsed, 1),
                statuses=statuses,
                sample=sample,
            )
        )
    return results


async def _probe(port: int, cookie: str, path: str) -> tuple[int, bytes]:
    connection = HttpConnection("127.0.0.1", port, f"Host: 127.0.0.1:{port}\r\nCookie: billing_console={cookie}\r\n")
    try:
        return await connection.get(path)
    finally:
        connection.close()


def report(results: list[Result], seeded: Seeded, args: argparse.Namespace) -> None:
    print(
        f"console pages, {seeded.contacts:,} contacts in {len(seeded.queues)} queues, {args.clients} clients, "
        f"{args.seconds:g} s a page, {args.replicas} replica(s) x {args.threads} threads, "
        f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    )
    print(f"  {'page':<28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  {'statuses':<18} {'target':>7}  verdict")
    for r in results:
        seen = " ".join(f"{code}x{n}" for code, n in sorted((r.statuses or Counter()).items()))
        if r.state == "missing":
            print(f"  {r.page:<28} {'-':>8} {'-':>8} {'-':>8}  {seen:<18} {'100 ms':>7}  missing (404, not built)")
            continue
        print(
            f"  {r.page:<28} {r.requests_per_s:>8,.1f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f}  {seen:<18} {'100 ms':>7}  "
            f"{r.verdict}"
        )
    for r in results:
        if r.sample:
            print(f"  first non-200 of {r.page}: {r.sample}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per page")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per page before it")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--replicas",
        type=int,
        default=os.cpu_count() or 1,
        help="function processes, as pods of one gunicorn worker each (default: one per CPU)",
    )
    parser.add_argument("--threads", type=int, default=2, help="gunicorn threads per replica")
    parser.add_argument("--only", action="append", help="measure only this page (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", action="store_true", help="print only the JSON figures")
    args = parser.parse_args()
    if args.contacts < QUEUES:
        parser.error(f"--contacts must be at least {QUEUES}")

    servers: list[subprocess.Popen[bytes]] = []
    with scratch_database(keep=args.keep) as url:
        try:
            seeded = prepare_database(url, args.contacts, log=not args.json)
            ports = [free_port() for _ in range(args.replicas)]
            servers.extend(start_server(url, port, args.threads) for port in ports)
            for server, port in zip(servers, ports, strict=True):
                wait_started(server, port)
            cookie = sign_in(ports[0])
            results = measure(ports, cookie, seeded, args)
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.wait(timeout=10)

    measured = [r for r in results if r.state == "measured"]
    failed = [r for r in measured if r.errors]
    if args.json:
        figures = {
            "pages": {
                r.page: {"p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "requests_per_s": r.requests_per_s} for r in measured
            },
            "max_p50_ms": max((r.p50_ms for r in measured), default=None),
            "contacts": seeded.contacts,
            "missing": [r.page for r in results if r.state == "missing"],
        }
        print(json.dumps(figures))
        for r in failed:
            sys.stderr.write(f"{r.page}: {r.errors} non-200 answers; first: {r.sample}\n")
    else:
        report(results, seeded, args)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
