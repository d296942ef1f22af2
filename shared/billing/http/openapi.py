"""The OpenAPI 3.1 document of the ERP-facing API, generated from the pydantic models.

The generated document is committed (``shared/billing/http/openapi.json``, linked as ``openapi.json``
at the repository root) and served by the send function; a test fails when it is stale. Regenerate
with ``python -m billing.http.openapi --write``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from billing.http.schemas import (
    ContactsResponse,
    ControlRequest,
    Conversation,
    ConversationsResponse,
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
ERROR_TEXT = {
    400: "malformed JSON, or a body that is not a JSON object",
    401: "missing, unknown, revoked or expired API key",
    403: "the key may not be used from this address or for this template type",
    404: "unknown template, instance or queue (another tenant's objects are never found)",
    409: "idempotency key or external_id reused with a different body; impossible transition",
    413: "body or number of contacts over the limit",
    415: "the body is not application/json (UTF-8)",
    422: "validation failed; `errors` lists each field at fault",
    429: "rate limit of the key or of the client address exceeded (refused requests count against the "
    "address too); retry after `Retry-After` seconds",
    503: "a dependency (the database) is unavailable; retry after `Retry-After` seconds",
}
_INT_HEADER = {"schema": {"type": "integer"}}
RATE_HEADERS = {
    "RateLimit-Limit": {**_INT_HEADER, "description": "requests allowed per minute"},
    "RateLimit-Remaining": {**_INT_HEADER, "description": "requests left in this window"},
    "RateLimit-Reset": {**_INT_HEADER, "description": "seconds until the window resets"},
}
RETRY_AFTER = {"Retry-After": {**_INT_HEADER, "description": "seconds to wait before retrying"}}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.model_config.get('title') or model.__name__}"}


def _problem(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": ERROR_TEXT[status],
        "content": {"application/problem+json": {"schema": _ref(Problem)}},
    }
    if status in (429, 503):
        answer["headers"] = RETRY_AFTER
    return answer


def _ok(model: type[BaseModel], description: str, extra_headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {**RATE_HEADERS, **(extra_headers or {})},
        "content": {"application/json": {"schema": _ref(model)}},
    }


def _send_operation(template_type: str) -> dict[str, Any]:
    location = {"Location": {"schema": {"type": "string"}, "description": "the queue's status URL"}}
    return {
        "operationId": f"send_{template_type}",
        "summary": f"Queue {template_type} reminders for a batch of contacts",
        "tags": ["send"],
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "replays with the same key and body answer 200 with the first answer",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_IDEMPOTENCY_KEY,
                    "pattern": "^[!-~]([ -~]*[!-~])?$",
                },
            }
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(SendRequest)}}},
        "responses": {
            "202": _ok(SendResponse, "queue created", location),
            "200": _ok(SendResponse, "idempotent replay: the first answer, unchanged", location),
            **{str(s): _problem(s) for s in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)},
        },
    }


def _query(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": description}


def _queue_id() -> dict[str, Any]:
    return {"name": "queue_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}


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
        (ControlRequest, "validation"),
        (InvoiceCancelRequest, "validation"),
        (InvoiceCancelResponse, "serialization"),
        (Problem, "serialization"),
    ]
    _, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    paths: dict[str, Any] = {f"/api/v1/billing/send/{t}": {"post": _send_operation(t)} for t in SEND_TYPES}
    paths["/api/v1/billing/queue/{queue_id}/status"] = {
        "get": {
            "operationId": "queue_status",
            "summary": "Progress of a queue, with its failed contacts (100 per page)",
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
                **{str(s): _problem(s) for s in (400, 401, 403, 404, 422, 429, 503)},
            },
        }
    }
    paths["/api/v1/billing/queue/{queue_id}/contacts"] = {
        "get": {
            "operationId": "queue_contacts",
            "summary": "Every contact of a queue with its status and receipts, a page at a time (by index)",
            "tags": ["queues"],
            "parameters": [
                _queue_id(),
                _query("status", "comma-separated contact statuses, e.g. `unknown,failed` (default: all)"),
                _query("invoice_id", "only the contacts of this invoice"),
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
                **{str(s): _problem(s) for s in (401, 403, 404, 422, 429, 503)},
            },
        }
    }
    paths["/api/v1/billing/queues"] = {
        "get": {
            "operationId": "queues_by_external_id",
            "summary": "Find a batch by the ERP's own id: the status of the queues created with it",
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
                **{str(s): _problem(s) for s in (401, 403, 422, 429, 503)},
            },
        }
    }
    paths["/api/v1/billing/queue/{queue_id}/control"] = {
        "post": {
            "operationId": "queue_control",
            "summary": "Pause, resume or cancel a queue (repeating an action is a no-op); resend unknown or "
            "failed contacts",
            "tags": ["queues"],
            "parameters": [_queue_id()],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(ControlRequest)}}},
            "responses": {
                "200": _ok(StatusResponse, "the queue's status after the action"),
                **{str(s): _problem(s) for s in (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)},
            },
        }
    }
    paths["/api/v1/billing/invoices/{invoice_id}/cancel"] = {
        "post": {
            "operationId": "invoice_cancel",
            "summary": "Stop every not-yet-sent reminder of an invoice (paid, renegotiated), in every queue",
            "description": "Idempotent: a repeat cancels nothing more. A reminder whose gateway call already "
            "started is not recalled; `in_flight` counts them.",
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
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(InvoiceCancelRequest)}}},
            "responses": {
                "200": _ok(InvoiceCancelResponse, "what was cancelled, per queue"),
                **{str(s): _problem(s) for s in (400, 401, 403, 409, 413, 415, 422, 429, 503)},
            },
        }
    }
    conversation_id = {"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"}}
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
                },
                {
                    "name": "since",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "format": "date-time"},
                    "description": "only conversations with a message at or after this instant",
                },
                *page,
            ],
            "responses": {
                "200": _ok(ConversationsResponse, "one page of conversations"),
                **{str(s): _problem(s) for s in (401, 403, 422, 429, 503)},
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
                **{str(s): _problem(s) for s in (401, 403, 404, 422, 429, 503)},
            },
        }
    }
    paths["/api/v1/billing/conversations/{conversation_id}/close"] = {
        "post": {
            "operationId": "conversation_close",
            "summary": "Close a conversation (its unread count back to 0); closing a closed one is a no-op",
            "tags": ["inbox"],
            "parameters": [conversation_id],
            "responses": {
                "200": _ok(Conversation, "the conversation, closed"),
                **{str(s): _problem(s) for s in (401, 403, 404, 429, 503)},
            },
        }
    }
    paths["/api/v1/billing/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "tags": ["meta"],
            "security": [],
            "responses": {"200": {"description": "the OpenAPI document", "content": {"application/json": {}}}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Billing reminders API",
            "version": "1.0.0",
            "description": "WhatsApp billing reminders for ERPs. Every error is RFC 9457 application/problem+json.",
        },
        "servers": [{"url": "/"}],
        "security": [{"ApiKey": []}],
        "paths": paths,
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}},
        },
    }


def render_document() -> str:
    return json.dumps(build_document(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m billing.http.openapi", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {DOCUMENT_PATH}")
    parser.add_argument("--check", action="store_true", help="exit 1 when the committed document is stale")
    args = parser.parse_args(argv)
    text = render_document()
    if args.write:
        DOCUMENT_PATH.write_text(text, encoding="utf-8")
        sys.stdout.write(f"wrote {DOCUMENT_PATH}\n")
        return 0
    if args.check:
        current = DOCUMENT_PATH.read_text(encoding="utf-8") if DOCUMENT_PATH.exists() else ""
        if current != text:
            sys.stderr.write(f"{DOCUMENT_PATH} is stale: run python -m billing.http.openapi --write\n")
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
