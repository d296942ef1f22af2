"""The HTTP side of ``POST /api/v1/billing/send/{type}``: limits, content type, JSON, then ingest.

Checks run cheapest first: the declared size (413) before anything is read, then the API key and
rate limits, then the media type (415), the actual bytes read (413) and the JSON itself (400).
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from billing.adapters.broker import Publisher, get_publisher
from billing.clock import SYSTEM_CLOCK, Clock
from billing.config import get_settings
from billing.db.engine import unit_of_work
from billing.domain.states import TemplateType
from billing.errors import (
    ConfigurationError,
    MalformedRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)
from billing.http.entry import json_response
from billing.http.guard import guard
from billing.http.send_schemas import MAX_IDEMPOTENCY_KEY
from billing.services.ingest import SendCommand, ingest

if TYPE_CHECKING:
    from flask import Request, Response

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
_PRINTABLE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?\Z")
_READ_CHUNK = 1 << 16
# A \u0000 escape that is not itself an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _reject_declared_size(request: Request, limit: int) -> None:
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLargeError(f"the body has {length} bytes; the limit is {limit}")


def _require_json(request: Request) -> None:
    if request.mimetype != "application/json":
        shown = request.mimetype or "none"
        raise UnsupportedMediaTypeError(f"send the body as application/json (got {shown})")
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower().replace("-", "") != "utf8":
        raise UnsupportedMediaTypeError(f"the body must be UTF-8 (got charset={charset})")


def read_body(request: Request, limit: int) -> bytes:
    """Read at most ``limit`` bytes; a body that is longer is refused without reading the rest."""
    stream = request.stream
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the body is over the limit of {limit} bytes")
    return b"".join(chunks)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_object(data: bytes) -> dict[str, Any]:
    if b"\\u0000" in data and _NUL_ESCAPE.search(data):
        # PostgreSQL text cannot hold NUL; refuse it here rather than fail deep in the insert.
        raise MalformedRequestError("the body must not contain NUL characters (\\u0000)")
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise MalformedRequestError("the body is not valid UTF-8") from exc
    except (ValueError, RecursionError) as exc:
        raise MalformedRequestError(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise MalformedRequestError("the body must be a JSON object")
    if _SURROGATE_ESCAPE.search(data):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MalformedRequestError("the body contains an unpaired UTF-16 surrogate escape") from exc
    return value


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


def _publisher() -> Publisher | None:
    try:
        return get_publisher()
    except ConfigurationError:
        return None


def handle_send(request: Request, match: re.Match[str], *, clock: Clock = SYSTEM_CLOCK) -> Response:
    settings = get_settings()
    _reject_declared_size(request, settings.max_body_bytes)
    template_type = TemplateType(match.group("type"))
    now = clock.now()
    with unit_of_work() as uow:
        principal, headers = guard(request, session=uow.session, settings=settings, now=now)
        principal.require_type(template_type.value)
        _require_json(request)
        body = parse_json_object(read_body(request, settings.max_body_bytes))
        command = SendCommand(
            tenant_id=principal.tenant_id,
            api_key_id=principal.api_key_id,
            template_type=template_type,
            body=body,
            idempotency_key=idempotency_key(request),
        )
        result = ingest(command, uow=uow, publisher=_publisher(), now=now)
    headers["Location"] = result.body["status_url"]
    return json_response(result.body, 202 if result.created else 200, headers)


@lru_cache(maxsize=1)
def openapi_document() -> bytes:
    return resources.files("billing.http").joinpath("openapi.json").read_bytes()


def handle_openapi(request: Request, match: re.Match[str]) -> Response:
    return json_response(openapi_document(), 200, {"Cache-Control": "public, max-age=300"})
