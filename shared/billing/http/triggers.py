"""Turn whatever woke a trigger function into a ``Token``.

Three deliveries reach the sender and sweeper (docs/architecture.md, "The functions"):

* a binary-mode CloudEvent (``ce-*`` headers, body = token JSON): Knative's RabbitMQ source/trigger
  and ``billing connector``;
* a structured-mode CloudEvent (``application/cloudevents+json``, token under ``data`` or
  ``data_base64``): other CloudEvents producers, and PingSource;
* a plain POST whose body is the token JSON (OpenFaaS connectors) or empty (the cron-connector).

Anything that carries no token (an empty body, ``{}``, a PingSource payload) is a cron ``tick``.
The other direction (how ``billing connector`` triggers a function) is ``billing.adapters.trigger_client``.
No CloudEvents SDK: the formats are small and the SDK pins conflict with other packages.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from billing.adapters.broker import Token
from billing.errors import ValidationFailedError

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger(__name__)

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
MAX_TRIGGER_BYTES = 64 * 1024
_REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type")


class TriggerParseError(ValidationFailedError):
    """A trigger request is not a CloudEvent, a token or a tick. Answer 400: redelivery cannot help."""


def parse_token(headers: Mapping[str, str], body: bytes) -> Token:
    """Parse a trigger request into a token; raise ``TriggerParseError`` for malformed input.

    ``body`` was read within ``MAX_TRIGGER_BYTES`` by the caller (``http.entry.trigger``)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    content_type = lowered.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == STRUCTURED_CONTENT_TYPE:
        return _from_structured(body)
    if "ce-specversion" in lowered:
        return _from_binary(lowered, body)
    return _token_or_tick(_load_json(body, where="body"), event_id=None, reason="cron")


def _from_binary(headers: Mapping[str, str], body: bytes) -> Token:
    missing = [name for name in _REQUIRED_ATTRIBUTES if not headers.get(f"ce-{name}")]
    if missing:
        raise _missing(missing, prefix="ce-")
    return _token_or_tick(
        _load_json(body, where="data"), event_id=headers["ce-id"], reason=_tick_reason(headers["ce-type"])
    )


def _from_structured(body: bytes) -> Token:
    event = _load_json(body, where="event")
    if not isinstance(event, dict):
        raise TriggerParseError("a structured CloudEvent must be a JSON object")
    missing = [name for name in _REQUIRED_ATTRIBUTES if not event.get(name)]
    if missing:
        raise _missing(missing, prefix="")
    if "data_base64" in event and event["data_base64"] is not None:
        try:
            raw = base64.b64decode(str(event["data_base64"]), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise TriggerParseError("data_base64 is not valid base64") from exc
        data = _load_json(raw, where="data_base64")
    else:
        data = event.get("data")
        if isinstance(data, str):
            # Some producers put JSON text (rather than a JSON value) in ``data``.
            data = _load_json(data.encode(), where="data")
    return _token_or_tick(data, event_id=str(event["id"]), reason=_tick_reason(str(event["type"])))


def _load_json(raw: bytes, *, where: str) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser allows
        raise TriggerParseError(
            f"the trigger {where} is not JSON", [{"loc": [where], "msg": "not valid JSON"}]
        ) from exc


def _token_or_tick(data: Any, *, event_id: str | None, reason: str) -> Token:
    if data is None or (isinstance(data, dict) and "kind" not in data):
        # No token inside: a cron tick (cron-connector, PingSource) or an empty wake-up call.
        if event_id is None:
            return Token(kind="tick", reason=reason)
        return Token(id=event_id, kind="tick", reason=reason)
    if not isinstance(data, dict):
        raise TriggerParseError("a token must be a JSON object")
    try:
        return Token.model_validate(data)
    except ValidationError as exc:
        errors: list[dict[str, object]] = [
            {"loc": ["token", *(str(p) for p in err["loc"])], "msg": err["msg"]} for err in exc.errors()
        ]
        raise TriggerParseError("the trigger carries an invalid token", errors) from exc


def _tick_reason(event_type: str) -> str:
    return "cron" if event_type.startswith("dev.knative.sources.ping") else event_type[:100]


def _missing(names: list[str], *, prefix: str) -> TriggerParseError:
    return TriggerParseError(
        "the CloudEvent lacks required attributes: " + ", ".join(prefix + n for n in names),
        [{"loc": [prefix + n], "msg": "required"} for n in names],
    )
