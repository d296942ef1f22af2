"""The OpenAPI 3.1 document of the ERP-facing API, generated from the pydantic models.

The generated document is committed (``shared/billing/http/openapi.json``, linked as ``openapi.json``
at the repository root) and served by the send function; a test fails when it is stale. Regenerate
with ``python -m billing.http.openapi --write``, then the API reference page rendered from it,
``docs/api.md``, with ``python -m billing.http.apidoc --write``.

Everything an ERP integrator needs is in the document itself (the introduction, the tags' and
operations' descriptions, the models' field descriptions), so the reference page stays generated.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from billing.config import Settings
from billing.db.models import BillingConfig
from billing.http.queues import MAX_CONTROL_BODY, MAX_INVOICE_BODY
from billing.http.schemas import (
    PROBLEM_EXAMPLE,
    ContactsResponse,
    ControlRequest,
    Conversation,
    ConversationsResponse,
    Event,
    InvoiceCancelRequest,
    InvoiceCancelResponse,
    MessagesResponse,
    Problem,
    QueuesResponse,
    StatusResponse,
)
from billing.http.send_schemas import MAX_IDEMPOTENCY_KEY, SendRequest, SendResponse

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
API_KEY_HEADER = "X-Billing-API-Key"
SEND_TYPES = ("overdue", "upcoming", "notification")


def _default(model: type[BaseModel], field: str) -> Any:
    return model.model_fields[field].default


# The defaults the introduction quotes, read from the settings and the tenant configuration.
KEY_LIMIT: int = _default(BillingConfig, "api_rate_limit_per_minute")
READ_LIMIT: int = _default(BillingConfig, "api_read_rate_limit_per_minute")
MAX_CONTACTS: int = _default(BillingConfig, "max_contacts_per_request")
IP_LIMIT: int = _default(Settings, "ip_rate_limit_per_minute")
MAX_BODY_MIB: int = _default(Settings, "max_body_bytes") // (1024 * 1024)

ERROR_TEXT = {
    400: "malformed JSON, invalid UTF-8, or a body that is not a JSON object",
    401: "missing, unknown, revoked or expired API key",
    403: "the key may not be used from this address, for this template type, or (a read-only key) to change anything",
    404: "unknown template, instance, queue or conversation (another tenant's objects are never found)",
    405: "the path exists, but not with this method: `Allow` lists the methods",
    409: "idempotency key or external_id reused with a different body; impossible transition",
    413: "body or number of contacts over the limit",
    415: "the body is not JSON in UTF-8 (`application/json` or any `application/*+json`)",
    422: "validation failed; `errors` lists each field at fault",
    429: "rate limit of the key or of the client address exceeded (refused requests count against the "
    "address too); retry after `Retry-After` seconds",
    503: "a dependency (the database) is unavailable; retry after `Retry-After` seconds",
}
_INT_HEADER = {"schema": {"type": "integer"}}
RATE_HEADERS = {
    "RateLimit-Limit": {**_INT_HEADER, "description": "requests allowed per minute (the tightest of the limits)"},
    "RateLimit-Remaining": {**_INT_HEADER, "description": "requests left in this window"},
    "RateLimit-Reset": {**_INT_HEADER, "description": "seconds until the window resets"},
}
RETRY_AFTER = {"Retry-After": {**_INT_HEADER, "description": "seconds to wait before retrying"}}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {"schema": {"type": "string"}, "description": f"`{API_KEY_HEADER}`: the header to send"}
}
PRINTABLE_PATTERN = "^[!-~]([ -~]*[!-~])?$"


def pretty_json(value: Any, *, width: int = 100, indent: int = 0, lead: int = 0) -> str:
    """JSON for people: a value that fits in ``width`` stays on one line, a longer object or array
    spreads one member a line. ``lead``: characters before the value on its first line."""
    flat = json.dumps(value, ensure_ascii=False)
    if indent + lead + len(flat) <= width or not isinstance(value, dict | list) or not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        members = []
        for key, member in value.items():
            name = json.dumps(key, ensure_ascii=False) + ": "
            members.append(pad + name + pretty_json(member, width=width, indent=indent + 2, lead=len(name)))
        return "{\n" + ",\n".join(members) + "\n" + " " * indent + "}"
    items = [pad + pretty_json(item, width=width, indent=indent + 2) for item in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def _table(head: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> str:
    """A Markdown table (the document's descriptions are CommonMark with GitHub tables)."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


RATE_BUDGETS = (
    (
        "the key's",
        "send, control, invoice cancel, conversation close",
        f"the key's own limit, else the tenant's (default {KEY_LIMIT} a minute)",
    ),
    (
        "the key's reads",
        "status, contacts, lookup by `external_id`, conversations, messages",
        f"the tenant's read budget (default {READ_LIMIT} a minute)",
    ),
    (
        "the client address",
        "every request, refused ones included (IPv6: per /64)",
        f"{IP_LIMIT} a minute by default (a deployment setting)",
    ),
)
QUEUE_STATUSES = (
    ("pending", "waiting for its turn (also between sending rounds)"),
    ("scheduled", "waiting for `scheduled_for`"),
    ("running", "being sent"),
    ("paused", "paused through the control route or by an operator; resumes only on `resume`"),
    (
        "paused_business_hours",
        "outside the tenant's business hours, or its WhatsApp number sent its daily cap (`paused_reason` "
        "`daily_cap: ...`); resumes by itself at `resume_at`",
    ),
    (
        "instance_down",
        "the WhatsApp number is disconnected, or the gateway refuses its key (`paused_reason` says which); "
        "resumes by itself when it is back",
    ),
    ("completed", "final: nothing left to send (also when every contact failed: the counters say so)"),
    ("cancelled", "final: cancelled; its unsent contacts are `cancelled`"),
    ("failed", "final: given up as a whole (the current sender never does this)"),
)
CONTACT_STATUSES = (
    ("pending", "waiting for its turn"),
    ("sending", "being handed to the gateway right now"),
    ("pending_retry", "a transient gateway error; tried again later, with backoff"),
    ("sent", "final: the gateway accepted it; `delivered_at` and `read_at` follow from receipts"),
    ("failed", "final: refused for good (e.g. not on WhatsApp) or given up after the retries; `error` says why"),
    ("cancelled", "final: cancelled before it was sent (queue cancel, invoice cancel, or replaced by a newer batch)"),
    (
        "expired",
        "final: no longer true when its turn came: past `valid_until`, or an `upcoming` reminder past its due date",
    ),
    ("skipped", "final: the customer had opted out"),
    (
        "unknown",
        "final: the gateway may or may not have sent it (its answer was lost); never resent automatically "
        "(see `resend`)",
    ),
)
CONTROL_ACTIONS = (
    (
        "`pause`",
        "`pending`, `scheduled`, `running`, `paused_business_hours`, `instance_down`",
        "`paused`: nothing more is handed to the gateway; a message already handed over is still sent and recorded",
    ),
    (
        "`resume`",
        "`paused`, `paused_business_hours`, `instance_down`",
        "`pending`, sending again (a queue whose `scheduled_for` is still ahead waits for it)",
    ),
    (
        "`cancel`",
        "any status that is not final",
        "`cancelled`: every not-yet-sent contact becomes `cancelled`; a message already handed to the gateway is "
        "not recalled",
    ),
    ("`resend`", "any but `cancelled`", "see below"),
)


def _statuses(kind: str, rows: Iterable[tuple[str, str]]) -> str:
    return _table((f"{kind} status", "meaning"), ((f"`{name}`", text) for name, text in rows))


OVERVIEW = f"""\
WhatsApp billing reminders for ERPs. An ERP posts a batch of contacts to remind (overdue, upcoming or
notification); each message is rendered at once, queued, and sent from the tenant's WhatsApp number at a
safe pace, inside business hours. The ERP follows each queue, pauses, resumes or cancels it, resends
what did not go out, stops the reminders of a paid invoice, and reads the customers' replies.

## Authentication

Every route except `GET /api/v1/billing/openapi.json` needs the header `{API_KEY_HEADER}: <key>`. The
operator creates keys (`billing apikey create`); a key is shown once, stored only as a hash, and belongs
to one tenant. A key may be limited to template types (`overdue`, `upcoming`, `notification`), to client
addresses (a CIDR list), by an expiry date, and to reading (a read-only key).

- A missing, unknown, revoked or expired key is 401 (with `WWW-Authenticate: {API_KEY_HEADER}`).
- A key used from an address it is not allowed is 403.
- A key limited to template types may send only those types, and read or control only queues of those
  types (403 for the others); an invoice cancel touches only queues of its types. The replies inbox spans
  every type, so such a key may not use it (403).
- A read-only key reads (status, contacts, lookup, inbox) but may not send, control, cancel or close (403).

## Conventions

- Base path `/api/v1/billing`; every route below gives its full path.
- Bodies are JSON in UTF-8. A request body must be declared `Content-Type: application/json` (or any
  `application/*+json`) with no charset or a UTF-8 one (415 otherwise), and must be one JSON object (400
  otherwise, also for invalid UTF-8, `NaN`/`Infinity`, `\\u0000` and unpaired surrogates). Unknown fields
  are refused by name (422), so a misspelt field is never silently ignored.
- Every timestamp the API returns is UTC, written with `Z` (`2026-11-30T12:00:00Z`). A date-time sent
  without an offset is read in the tenant's time zone; "today" (for `due_date`) is the tenant's local date.
- Tenants are isolated: another tenant's queue, invoice or conversation is never touched, and answers 404
  exactly like one that does not exist.
- Lists are paged with opaque cursors: pass a page's `next_cursor` back as `cursor` for the next page; it
  is `null` on the last page. A cursor this API did not issue is 422.
- A contact's `index` is always its position in the original send request, from 0.

## Errors

Every error is RFC 9457 problem details, `Content-Type: application/problem+json` (the `Problem` schema).
`errors` is present only where fields are at fault; each names the field (`loc`) and the problem (`msg`).
A client's bad input never produces a 5xx: a 5xx means the service failed, and 503 says when to retry.

```json
{pretty_json(PROBLEM_EXAMPLE)}
```

{_table(("status", "meaning"), ERROR_TEXT.items())}

## Rate limits

Requests are counted in fixed one-minute windows, shared by every replica of every function:

{_table(("budget", "what counts against it", "limit"), RATE_BUDGETS)}

Reads have their own budget, so an ERP that polls never locks itself out of sending; poll a running queue
every 10 to 30 seconds. An address over its limit is answered 429 whatever key it shows, before the key
is judged. Over a limit the answer is 429 with `Retry-After` (seconds until the window resets). Every
successful answer carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`, for the
tightest of the limits it counted against. The operator sets the limits (`billing apikey create
--rate-limit`, `billing config set --rate-limit / --read-rate-limit`).

## Idempotency

- **Sending.** A batch is identified by its `Idempotency-Key` header (1-{MAX_IDEMPOTENCY_KEY} printable ASCII
  characters), else by its `external_id`; either is unique per tenant. The same key with the same
  body (compared as JSON: key order and spacing do not matter) and type answers 200 with the first answer
  (rejected phones masked) and creates nothing; the same key with a different body or type is 409; two
  identical requests at the same moment create one queue. So a request that timed out is simply sent
  again. A batch with neither creates a new queue each time.
- **Control.** Repeating an action is a no-op answered 200: pause a paused queue, resume a pending,
  running or scheduled one, cancel a cancelled one.
- **Invoice cancel and conversation close.** A repeat changes nothing more and answers 200."""

SEND_TEXT = f"""\
`POST /api/v1/billing/send/{{type}}` queues one batch of reminders of one type; the answer does not wait
for sending.

- **Each contact is validated on its own.** The valid ones are queued; the invalid ones are listed in
  `rejected` (by `index`, each problem as `field: reason`). When no contact is valid the answer is 422,
  every problem in `errors` (`loc`: `["contacts", index, field]`), and nothing is stored.
- **A contact is rejected** for an invalid phone, amount or due date for the type, a link that is not
  https, a name over 100 characters or holding a link, an unknown field, the same phone and invoice as an
  earlier contact of the batch, a phone on the tenant's opt-out list (`opted out`), or a message that
  would be empty or over 4,096 characters.
- **Messages are rendered now**, so a template error is caught before anything is queued. Day counts in a
  message are true on the day it is sent (it is rendered again when the date changed since).
- **Template and instance** default to the tenant's defaults; an unknown one (or another tenant's) is 404.
- **The batch is stored whole or not at all**, in one transaction; sending starts after the answer (when
  the internal message broker is down the answer is still 202, and sending starts a little later).
- **Sending** follows the tenant's pace (messages a minute, daily cap) per WhatsApp instance, overdue
  before upcoming before notification reminders. `overdue` and `upcoming` go out only inside the tenant's
  business hours, `notification` around the clock. When its turn comes, a contact who opted out meanwhile
  is `skipped`, and one past `valid_until` (or an `upcoming` reminder past its due date) is `expired`.
- **Idempotency**: a replay answers 200 with the first answer; see Idempotency in the introduction.
- **Limits**: a body over {MAX_BODY_MIB} MiB is 413 before anything else is checked (a body may also hold
  at most one JSON object or array per 50 bytes of the limit, and one comma per 20); more contacts than
  the tenant's `max_contacts_per_request` (default {MAX_CONTACTS:,}) is 413."""

SEND_RULES = {
    "overdue": "Each contact needs `due_date` on or before today and `amount` > 0. Sent inside the tenant's "
    "business hours, before upcoming and notification reminders.",
    "upcoming": "Each contact needs `due_date` on or after today and `amount` > 0. A reminder whose due date "
    "has passed by the time it would be sent is not sent (`expired`). Sent inside the tenant's business hours.",
    "notification": "Neither `due_date` nor `amount` is needed; a notice's text usually comes in "
    '`variables` (the default templates send `"mensagem"`). Sent around the clock (no business-hours pause), '
    "after overdue and upcoming reminders.",
}

QUEUES_TEXT = f"""\
A queue is one accepted batch. Its status answers from counters (cheap to poll); its contacts route
lists every contact with its status and receipts; its control route pauses, resumes, cancels or resends.
Another tenant's queue, one that does not exist and an id that is not a UUID all answer the same 404.

{_statuses("queue", QUEUE_STATUSES)}

{_statuses("contact", CONTACT_STATUSES)}"""

CONTROL_TEXT = f"""\
{_table(("action", "from", "effect"), CONTROL_ACTIONS)}

Repeating an action is a no-op (200): pause a paused queue, resume a pending, running or scheduled one,
cancel a cancelled one. An impossible move (resume or cancel a completed queue, pause a cancelled one,
anything on a failed one) is 409 and changes nothing. Every call, no-op included, is audited.

`resend` is the explicit decision to send `unknown` contacts (which may have reached the customer) or
`failed` ones once more: `statuses` (default both) chooses which, `indexes` (optional, 1 to 1,000)
narrows them to these contacts. They go back to `pending` with a fresh retry budget, and a `completed`
or `failed` queue is `pending` again (a paused one stays paused until resumed). Refused with nothing changed: a
status other than `unknown`/`failed` (409), an index whose contact is not in `statuses` (409), a
cancelled queue (409), an index that names no contact (422), `statuses`/`indexes` with another action
(422)."""

INVOICES_TEXT = "Stop the reminders of an invoice that was paid or renegotiated, whichever queues hold them."

INBOX_TEXT = """\
A conversation is one customer (phone) writing to one of the tenant's WhatsApp numbers. It opens when
the customer writes back and stays open until someone closes it; `unread` counts the customer's
messages since it was last closed (a new reminder does not close a conversation with unread messages).
Each conversation lists the invoices and queues whose reminders reached that phone from that number,
so a reply can be matched to its invoice. A reply is listed on the very next request after the gateway
reports it. Opt-out words (`PARAR`, `SAIR`, `STOP`, `CANCELAR` by default) put the phone on the
tenant's opt-out list. A key limited to some template types may not use the inbox (403)."""

EVENTS_TEXT = """\
Every change that matters is an event, written in the same transaction as the change: `queue.started`,
`queue.paused` (`data.reason`: `operator`, `business_hours`, `instance_down`, `auth_failed`),
`queue.resumed`, `queue.completed`, `queue.cancelled`; `contact.sent`, `contact.delivered`,
`contact.read`, `contact.failed`, `contact.unknown`, `contact.expired`, `contact.skipped`,
`contact.cancelled`, `contact.replied`, `contact.opted_out`; `instance.down`, `instance.up`. Ids increase
per tenant in commit order, so resuming after the last id seen misses nothing (the status body's
`last_event_id` is where a poller switches over). Follow them live here, or receive them as signed
webhooks (docs/events.md)."""

TAGS: list[dict[str, str]] = [
    {"name": "send", "x-displayName": "Sending reminders", "description": SEND_TEXT},
    {"name": "queues", "x-displayName": "Following and controlling queues", "description": QUEUES_TEXT},
    {"name": "invoices", "x-displayName": "Invoices", "description": INVOICES_TEXT},
    {"name": "inbox", "x-displayName": "Replies inbox", "description": INBOX_TEXT},
    {"name": "events", "x-displayName": "Events, live", "description": EVENTS_TEXT},
    {"name": "meta", "x-displayName": "The OpenAPI document", "description": "This document, without a key."},
]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.model_config.get('title') or model.__name__}"}


def _problem(status: int, text: str | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": text or ERROR_TEXT[status],
        "content": {"application/problem+json": {"schema": _ref(Problem)}},
    }
    if status in (429, 503):
        answer["headers"] = RETRY_AFTER
    elif status == 401:
        answer["headers"] = WWW_AUTHENTICATE
    return answer


def _problems(statuses: tuple[int, ...], **specific: str) -> dict[str, Any]:
    """The error answers of an operation: the generic meaning, or ``specific["e409"]`` for this route."""
    return {str(s): _problem(s, specific.get(f"e{s}")) for s in statuses}


def _ok(
    model: type[BaseModel],
    description: str,
    extra_headers: dict[str, Any] | None = None,
    example: dict[str, Any] | None = None,
) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": _ref(model)}
    if example is not None:
        media["example"] = example
    return {
        "description": description,
        "headers": {**RATE_HEADERS, **(extra_headers or {})},
        "content": {"application/json": media},
    }


def _body(model: type[BaseModel], example: dict[str, Any] | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": _ref(model)}
    if example is not None:
        media["example"] = example
    return {"required": True, "content": {"application/json": media}}


_QUEUE_ID = "5f0c6c1e-8c1e-4c43-9a55-0b7d1c0f3e21"
_MARIA = {"phone": "+55 (11) 99999-8888", "name": "Maria Silva", "invoice_id": "NF-123"}
SEND_EXAMPLES: dict[str, dict[str, Any]] = {
    "overdue": {
        "external_id": "erp-run-2026-11-29-001",
        "template": "cobranca-padrao",
        "instance": "loja-centro",
        "scheduled_for": "2026-11-30T09:00:00-03:00",
        "valid_until": "2026-12-05T18:00:00-03:00",
        "contacts": [
            {
                **_MARIA,
                "due_date": "2026-11-20",
                "amount": "150.90",
                "payment_link": "https://pagar.exemplo.com.br/abc",
                "pix_code": "00020126580014BR.GOV.BCB.PIX...",
                "variables": {"plano": "Pro", "parcela": 3},
            },
            {"phone": "123", "due_date": "2026-11-20", "amount": "99.00"},
        ],
    },
    "upcoming": {
        "external_id": "erp-upcoming-2026-12-01",
        "contacts": [
            {
                **_MARIA,
                "due_date": "2026-12-10",
                "amount": "1.234,56",
                "payment_link": "https://pagar.exemplo.com.br/x",
            },
            {"phone": "123", "due_date": "2026-12-10", "amount": "99.00"},
        ],
    },
    "notification": {
        "external_id": "erp-notice-2026-12-01",
        "contacts": [
            {**_MARIA, "variables": {"mensagem": "Sua nota fiscal NF-123 já está disponível."}},
            {"phone": "123"},
        ],
    },
}


def _send_answer(template_type: str) -> dict[str, Any]:
    scheduled = template_type == "overdue"  # its example starts at scheduled_for
    return {
        "queue_id": _QUEUE_ID,
        "status": "scheduled" if scheduled else "pending",
        "template_type": template_type,
        "accepted": 1,
        "rejected": [{"index": 1, "phone": "123", "errors": ["phone: too short"]}],
        "estimated_completion": "2026-11-30T12:00:05Z" if scheduled else "2026-12-01T12:00:05Z",
        "status_url": f"/api/v1/billing/queue/{_QUEUE_ID}/status",
    }


def _send_operation(template_type: str) -> dict[str, Any]:
    location = {"Location": {"schema": {"type": "string"}, "description": "the queue's status URL"}}
    return {
        "operationId": f"send_{template_type}",
        "summary": f"Queue {template_type} reminders for a batch of contacts",
        "description": SEND_RULES[template_type],
        "tags": ["send"],
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "the batch's idempotency key (else `external_id`): the same key and body answer 200 "
                "with the first answer; the same key with another body is 409; an invalid value is 422",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_IDEMPOTENCY_KEY,
                    "pattern": PRINTABLE_PATTERN,
                },
            }
        ],
        "requestBody": _body(SendRequest, SEND_EXAMPLES[template_type]),
        "responses": {
            "202": _ok(SendResponse, "queue created", location, _send_answer(template_type)),
            "200": _ok(SendResponse, "idempotent replay: the first answer (rejected phones masked)", location),
            **_problems(
                (400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
                e403="the key may not be used from this address, may not send this template type, or is read-only",
                e404="unknown template or instance (another tenant's included)",
                e409="the `Idempotency-Key` (else `external_id`) was used with a different body or template type",
                e413=f"body over {MAX_BODY_MIB} MiB or too dense for its size, or more contacts than the tenant's "
                "`max_contacts_per_request`",
                e422="invalid envelope, `Idempotency-Key` or sending window (`scheduled_for`, `valid_until`), or no "
                "valid contact; `errors` lists each field at fault",
            ),
        },
    }


def _query(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": description}


def _queue_id() -> dict[str, Any]:
    return {
        "name": "queue_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
        "description": "the `queue_id` the send answered",
    }


_QUEUE_403 = "the key may not be used from this address, or is limited to other template types"
_QUEUE_404 = "no such queue of this tenant (also an id that is not a UUID)"
_WRITE_403 = "the key may not be used from this address, is limited to other template types, or is read-only"
_INBOX_403 = "the key may not be used from this address, or is limited to some template types (the inbox spans all)"
_CONVERSATION_404 = "no such conversation of this tenant (also an id that is not a UUID)"
_PAGE_422 = "a `cursor` this API did not issue, or `limit` out of range (`errors[0].loc` names the parameter)"


def _queue_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    paths["/api/v1/billing/queue/{queue_id}/status"] = {
        "get": {
            "operationId": "queue_status",
            "summary": "Progress of a queue, with its failed contacts (100 per page)",
            "description": "Answers from the queue's counters, whatever its size. `failures` lists the failed "
            "contacts by `index`, 100 per page; when there are more, pass `next_failures_cursor` back as "
            "`failures_cursor`. Poll a running queue every 10 to 30 seconds (its estimate moves by whole "
            "pacing gaps).",
            "tags": ["queues"],
            "parameters": [
                _queue_id(),
                {
                    "name": "failures_cursor",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "`next_failures_cursor` of the previous page",
                },
            ],
            "responses": {
                "200": _ok(StatusResponse, "the queue's status"),
                **_problems(
                    (401, 403, 404, 422, 429, 503),
                    e403=_QUEUE_403,
                    e404=_QUEUE_404,
                    e422='a `failures_cursor` this API did not issue (`errors[0].loc`: `["query", "failures_cursor"]`)',
                ),
            },
        }
    }
    paths["/api/v1/billing/queue/{queue_id}/contacts"] = {
        "get": {
            "operationId": "queue_contacts",
            "summary": "Every contact of a queue with its status and receipts, a page at a time (by index)",
            "description": "Whatever their status, so the ERP can tell which invoices were reminded. Ordered by "
            "`index`; keyset pages, so a contact changing status while you page is neither skipped nor listed "
            "twice.",
            "tags": ["queues"],
            "parameters": [
                _queue_id(),
                _query("status", "comma-separated contact statuses, e.g. `unknown,failed` (default: all)"),
                {
                    "name": "invoice_id",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
                    "description": "only the contacts of this invoice",
                },
                _query("cursor", "`next_cursor` of the previous page"),
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                    "description": "contacts per page",
                },
            ],
            "responses": {
                "200": _ok(ContactsResponse, "one page of contacts, timestamps in UTC (`Z`)"),
                **_problems(
                    (401, 403, 404, 422, 429, 503),
                    e403=_QUEUE_403,
                    e404=_QUEUE_404,
                    e422="an unknown status, `limit` out of range, a `cursor` this API did not issue, or an "
                    "`invoice_id` over 100 characters (`errors[0].loc` names the parameter)",
                ),
            },
        }
    }
    paths["/api/v1/billing/queues"] = {
        "get": {
            "operationId": "queues_by_external_id",
            "summary": "Find a batch by the ERP's own id: the status of the queues created with it",
            "description": "Queues of template types the key may not read are left out, as if they did not exist.",
            "tags": ["queues"],
            "parameters": [
                {
                    "name": "external_id",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    "description": "the `external_id` the batch was sent with",
                }
            ],
            "responses": {
                "200": _ok(QueuesResponse, "the matching queues (an empty list when none)"),
                **_problems(
                    (401, 403, 422, 429, 503),
                    e403="the key may not be used from this address",
                    e422="`external_id` missing, or not 1 to 255 characters",
                ),
            },
        }
    }
    paths["/api/v1/billing/queue/{queue_id}/control"] = {
        "post": {
            "operationId": "queue_control",
            "summary": "Pause, resume or cancel a queue (repeating an action is a no-op); resend unknown or "
            "failed contacts",
            "description": CONTROL_TEXT,
            "tags": ["queues"],
            "parameters": [_queue_id()],
            "requestBody": _body(ControlRequest),
            "responses": {
                "200": _ok(StatusResponse, "the queue's status after the action"),
                **_problems(
                    (400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
                    e403=_WRITE_403,
                    e404=_QUEUE_404,
                    e409="an impossible move (resume or cancel a completed queue, pause a cancelled one, anything on "
                    "a failed one); a resend of contacts that are not `unknown`/`failed` or not in `statuses`, or of "
                    "a cancelled queue; the queue kept changing meanwhile (send it again)",
                    e413=f"body over {MAX_CONTROL_BODY // 1024} KiB",
                    e422="an unknown action or field, `statuses`/`indexes` with an action other than `resend`, or an "
                    "index that names no contact",
                ),
            },
        }
    }
    return paths


def _other_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    paths["/api/v1/billing/invoices/{invoice_id}/cancel"] = {
        "post": {
            "operationId": "invoice_cancel",
            "summary": "Stop every not-yet-sent reminder of an invoice (paid, renegotiated), in every queue",
            "description": "Every `pending`/`pending_retry` contact of the invoice, in every queue of the tenant "
            "of the template types the key may act on, becomes `cancelled` with the error `invoice cancelled: "
            "<reason>`, in one transaction; a queue left with nothing to send is completed. Idempotent: a repeat "
            "cancels nothing more (`cancelled: 0`, `queues: []`). A reminder whose gateway call already started is "
            "not recalled; `in_flight` counts them. Another tenant's invoice of the same id is never touched. A new "
            'batch can do the same for its own invoices with `"cancel_previous_for_invoice": true`.',
            "tags": ["invoices"],
            "parameters": [
                {
                    "name": "invoice_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
                    "description": "the `invoice_id` the reminders were sent with (URL-encoded)",
                }
            ],
            "requestBody": _body(InvoiceCancelRequest),
            "responses": {
                "200": _ok(InvoiceCancelResponse, "what was cancelled, per queue"),
                **_problems(
                    (400, 401, 403, 409, 413, 415, 422, 429, 503),
                    e403="the key may not be used from this address, or is read-only",
                    e409="the invoice's queues changed while it was being cancelled (send it again)",
                    e413=f"body over {MAX_INVOICE_BODY // 1024} KiB",
                    e422="`reason` missing, empty or over 200 characters, an unknown field, or an `invoice_id` "
                    "over 100 characters",
                ),
            },
        }
    }
    conversation_id = {
        "name": "conversation_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "a conversation's `id`",
    }
    page = [
        _query("cursor", "`next_cursor` of the previous page"),
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 200},
            "description": "items per page (conversations: default 50; messages: default 100)",
        },
    ]
    paths["/api/v1/billing/conversations"] = {
        "get": {
            "operationId": "conversations",
            "summary": "Replies inbox: customers who wrote back, most recent first, with what reminded them",
            "description": "A key limited to some template types may not read the inbox (403).",
            "tags": ["inbox"],
            "parameters": [
                {
                    "name": "state",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["open", "closed", "all"], "default": "open"},
                    "description": "which conversations",
                },
                {
                    "name": "since",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "format": "date-time"},
                    "description": "only conversations with a message at or after this instant (with an offset or `Z`)",
                },
                *page,
            ],
            "responses": {
                "200": _ok(ConversationsResponse, "one page of conversations"),
                **_problems(
                    (401, 403, 422, 429, 503),
                    e403=_INBOX_403,
                    e422="`state` not `open`, `closed` or `all`, `since` not an ISO 8601 date-time with an offset, "
                    "or " + _PAGE_422,
                ),
            },
        }
    }
    paths["/api/v1/billing/conversations/{conversation_id}/messages"] = {
        "get": {
            "operationId": "conversation_messages",
            "summary": "A conversation's messages, oldest first (reminders out, customer messages in)",
            "tags": ["inbox"],
            "parameters": [conversation_id, *page],
            "responses": {
                "200": _ok(MessagesResponse, "one page of messages"),
                **_problems((401, 403, 404, 422, 429, 503), e403=_INBOX_403, e404=_CONVERSATION_404, e422=_PAGE_422),
            },
        }
    }
    paths["/api/v1/billing/conversations/{conversation_id}/close"] = {
        "post": {
            "operationId": "conversation_close",
            "summary": "Close a conversation (its unread count back to 0); closing a closed one is a no-op",
            "description": "For when someone answered, or there is nothing to do. No body. Audited.",
            "tags": ["inbox"],
            "parameters": [conversation_id],
            "responses": {
                "200": _ok(Conversation, "the conversation, closed"),
                **_problems(
                    (401, 403, 404, 429, 503),
                    e403=_INBOX_403 + ", or is read-only",
                    e404=_CONVERSATION_404,
                ),
            },
        }
    }
    paths["/api/v1/billing/events"] = {
        "get": {
            "operationId": "events",
            "summary": "The tenant's events live: Server-Sent Events, or a WebSocket with `Upgrade: websocket`",
            "description": "Server-Sent Events: each event is `id: <id>`, `event: <type>`, `data: <Event as JSON>`; "
            "a comment line every 15 s keeps the stream open. WebSocket (same path and parameters): one Event "
            "per text message, pings every 15 s. A stream ends after an hour (reconnect with the last id). "
            "At most 5 open streams per key and server. A key limited to some template types must give a "
            "`queue_id` of those types.",
            "tags": ["events"],
            "parameters": [
                {
                    "name": "queue_id",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "format": "uuid"},
                    "description": "only this queue's events",
                },
                {
                    "name": "types",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "comma-separated types or groups, e.g. `queue.*,contact.failed` (default: all)",
                },
                {
                    "name": "after",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0},
                    "description": "events after this id (default 0: from the first kept)",
                },
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0},
                    "description": "sent by a reconnecting EventSource; wins over `after`",
                },
            ],
            "responses": {
                "200": {
                    "description": "the stream (`text/event-stream`); with `Upgrade: websocket`, 101 and a WebSocket",
                    "headers": RATE_HEADERS,
                    "content": {"text/event-stream": {"schema": _ref(Event)}},
                },
                **_problems(
                    (401, 403, 404, 422, 429, 503),
                    e403="the key may not be used from this address, or is limited to some template types and "
                    "named no `queue_id` of those types",
                    e404="`queue_id` names no queue of this tenant",
                    e503="the database is unavailable, or this server holds its maximum of open streams "
                    "(`Retry-After`; the retry reaches another replica)",
                    e422="`queue_id` not a UUID, an unknown type in `types`, or `after`/`Last-Event-ID` not an "
                    "event id (`errors[0].loc` names the parameter)",
                    e429="over the read budget, or this key already has its maximum of open streams",
                ),
            },
        }
    }
    paths["/api/v1/billing/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "description": "Needs no key and counts against no rate limit.",
            "tags": ["meta"],
            "security": [],
            "responses": {"200": {"description": "the OpenAPI document", "content": {"application/json": {}}}},
        }
    }
    return paths


def build_document() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = [
        (SendRequest, "validation"),
        (SendResponse, "serialization"),
        (StatusResponse, "serialization"),
        (ContactsResponse, "serialization"),
        (QueuesResponse, "serialization"),
        (ConversationsResponse, "serialization"),
        (Conversation, "serialization"),
        (MessagesResponse, "serialization"),
        (Event, "serialization"),
        (ControlRequest, "validation"),
        (InvoiceCancelRequest, "validation"),
        (InvoiceCancelResponse, "serialization"),
        (Problem, "serialization"),
    ]
    _, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = defs["$defs"]
    for model, _mode in models:  # pydantic sorts the keys of examples too: keep them as written
        extra = model.model_config.get("json_schema_extra")
        if isinstance(extra, dict) and "examples" in extra:
            schemas[model.__name__]["examples"] = extra["examples"]
    paths: dict[str, Any] = {f"/api/v1/billing/send/{t}": {"post": _send_operation(t)} for t in SEND_TYPES}
    paths.update(_queue_paths())
    paths.update(_other_paths())
    return {
        "openapi": "3.1.0",
        "info": {"title": "Billing reminders API", "version": "1.0.0", "description": OVERVIEW},
        "servers": [{"url": "/"}],
        "security": [{"ApiKey": []}],
        "tags": TAGS,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}},
        },
    }


def render_document() -> str:
    return json.dumps(build_document(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def generated_file_main(
    argv: list[str] | None, *, module: str, description: str | None, path: Path, render: Callable[[], str], hint: str
) -> int:
    """The command line of a generated file: print it, ``--write`` it to ``path``, or ``--check`` that the
    committed copy is current (exit 1 and say how to regenerate: ``hint``)."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--write", action="store_true", help=f"write {path}")
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        path.write_text(text, encoding="utf-8")
        sys.stdout.write(f"wrote {path}\n")
        return 0
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            sys.stderr.write(f"{path} is stale: run {hint}\n")
            return 1
        return 0
    sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    return generated_file_main(
        argv,
        module="billing.http.openapi",
        description=__doc__,
        path=DOCUMENT_PATH,
        render=render_document,
        hint="python -m billing.http.openapi --write",
    )


if __name__ == "__main__":
    raise SystemExit(main())
