"""The HTTP side of ``POST /api/v1/billing/send/{type}``: limits, content type, JSON, then ingest.

Checks run cheapest first: the declared size (413) before anything is read, then the API key and
rate limits, then the media type (415), the actual bytes read (413) and the JSON itself (400).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from billing import bootstrap
from billing.clock import SYSTEM_CLOCK, Clock
from billing.config import get_settings
from billing.contract.send import MAX_IDEMPOTENCY_KEY, SendCommand
from billing.db.engine import unit_of_work
from billing.domain.states import TemplateType
from billing.errors import ValidationFailedError
from billing.http.body import parse_json_object, read_bounded, reject_declared_size, require_json
from billing.http.entry import json_response
from billing.http.guard import guard
from billing.services.ingest.batch import ingest

if TYPE_CHECKING:
    from flask import Request, Response

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
_PRINTABLE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?\Z")


def idempotency_key(request: Request) -> str | None:
    value = request.headers.get(IDEMPOTENCY_HEADER)
    if value is None:
        return None
    if len(value) > MAX_IDEMPOTENCY_KEY or not _PRINTABLE.match(value):
        raise ValidationFailedError(
            f"{IDEMPOTENCY_HEADER} must be 1-{MAX_IDEMPOTENCY_KEY} printable characters",
            [{"loc": ["header", IDEMPOTENCY_HEADER], "msg": "1-255 printable ASCII characters"}],
        )
    return value


def handle_send(request: Request, match: re.Match[str], *, clock: Clock = SYSTEM_CLOCK) -> Response:
    settings = get_settings()
    reject_declared_size(request, settings.max_body_bytes)
    template_type = TemplateType(match.group("type"))
    now = clock.now()
    with unit_of_work() as uow:
        principal, headers = guard(request, session=uow.session, settings=settings, now=now)
        principal.require_write()
        principal.require_type(template_type.value)
        require_json(request.content_type)
        limit = settings.max_body_bytes
        body = parse_json_object(read_bounded(request, limit), limit=limit)
        command = SendCommand(
            tenant_id=principal.tenant_id,
            api_key_id=principal.api_key_id,
            template_type=template_type,
            body=body,
            idempotency_key=idempotency_key(request),
            template_types=principal.allowed_types,
        )
        result = ingest(command, uow=uow, publisher=bootstrap.optional_publisher(), now=now)
    headers["Location"] = result.body["status_url"]
    return json_response(result.body, 202 if result.created else 200, headers)


@lru_cache(maxsize=1)
def openapi_document() -> bytes:
    return resources.files("billing.http").joinpath("openapi.json").read_bytes()


def handle_openapi(request: Request, match: re.Match[str]) -> Response:
    return json_response(openapi_document(), 200, {"Cache-Control": "public, max-age=300"})
