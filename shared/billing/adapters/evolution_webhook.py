"""Evolution webhook bodies (API v2, tolerant of v1 field names) parsed into the contract's gateway events.

Only the fields we act on are validated; everything else the gateway adds is ignored, so a new gateway
version that adds keys does not start failing. A body we cannot read at all is ``MalformedRequestError``
(400: the gateway does not retry it). Strings that reach the database are bounded and made storable
(no NUL, no lone surrogates), so no body can turn into a 5xx.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from billing.contract.gateway_events import (
    ConnectionChange,
    GatewayEvent,
    Ignored,
    InboundMessage,
    ParsedWebhook,
    Receipt,
)
from billing.domain.receipts import GATEWAY_LEVELS
from billing.errors import MalformedRequestError

# What we keep of a customer's message: enough for any reply to a reminder (LGPD minimisation; WhatsApp
# itself allows 65,536).
MAX_TEXT_CHARS = 4096

UPSERT, UPDATE, CONNECTION, SEND = "messages.upsert", "messages.update", "connection.update", "send.message"


def storable(text: str) -> str:
    """Drop what PostgreSQL text cannot hold (NUL) and replace lone surrogates."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _clean_id(value: str) -> str:
    if not value or storable(value) != value or not value.isprintable():
        raise ValueError("must be printable text")
    return value


KeyId = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_clean_id)]
Jid = Annotated[str, Field(max_length=128)]


_NUMERIC_STATUS = {2: "SERVER_ACK", 3: "DELIVERY_ACK", 4: "READ", 5: "PLAYED"}


# --- the wire shapes ---------------------------------------------------------------------------------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Envelope(_Lenient):
    event: Annotated[str, Field(min_length=1, max_length=100)]
    instance: str | None = None
    data: Any = None


class UpsertKey(_Lenient):
    remoteJid: Jid  # the gateway's field names
    fromMe: bool = False
    id: KeyId
    remoteJidAlt: Jid | None = None  # 2.3.6+: the phone JID behind an @lid
    senderPn: Jid | None = None  # 2.3.0-2.3.5 name of the same thing


class UpsertData(_Lenient):
    key: UpsertKey
    message: dict[str, Any] | None = None
    messageType: str | None = None


class _UpdateKey(_Lenient):
    id: KeyId | None = None


class UpdateData(_Lenient):
    keyId: KeyId | None = None  # v2
    key: _UpdateKey | None = None  # some v2 paths nest it like upsert
    id: KeyId | None = None  # v1
    fromMe: bool | None = None
    status: Annotated[str, Field(max_length=40)] | int


class ConnectionData(_Lenient):
    state: Annotated[str, Field(max_length=40)]


def normalize_event_name(name: str) -> str:
    """``MESSAGES_UPSERT``, ``messages-upsert`` and ``messages.upsert`` are one event."""
    return name.strip().lower().replace("_", ".").replace("-", ".")


def _errors(exc: ValidationError, prefix: tuple[str, ...]) -> list[dict[str, object]]:
    return [{"loc": [*prefix, *(str(p) for p in e["loc"])], "msg": e["msg"]} for e in exc.errors()[:20]]


def _validate(model: type[_Lenient], value: Any, prefix: tuple[str, ...]) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise MalformedRequestError("the webhook body does not have the expected shape", _errors(exc, prefix)) from exc


def _phone_digits(key: UpsertKey) -> str | None:
    jid = key.remoteJid
    if jid.endswith("@lid"):
        jid = key.remoteJidAlt or key.senderPn or ""
    user, _, server = jid.partition("@")
    if server not in {"", "s.whatsapp.net", "c.us"}:
        return None  # groups, broadcasts, newsletters, an @lid without its phone
    digits = user.split(":", 1)[0]  # strip a ":<device>" suffix
    return digits if digits.isdigit() and digits.isascii() and 8 <= len(digits) <= 15 else None


def _caption(message: dict[str, Any], message_type: str | None) -> str:
    for field, inner in (
        ("conversation", None),
        ("extendedTextMessage", "text"),
        ("imageMessage", "caption"),
        ("videoMessage", "caption"),
        ("documentMessage", "caption"),
        ("buttonsResponseMessage", "selectedDisplayText"),
        ("listResponseMessage", "title"),
        ("templateButtonReplyMessage", "selectedDisplayText"),
    ):
        value = message.get(field)
        if inner is not None:
            value = value.get(inner) if isinstance(value, dict) else None
        if isinstance(value, str) and value.strip():
            return value
    kind = message_type if isinstance(message_type, str) and message_type else next(iter(message), "message")
    return f"[{str(kind)[:60]}]"


def _inbound(data: Any) -> GatewayEvent:
    parsed: UpsertData = _validate(UpsertData, data, ("data",))
    if parsed.key.fromMe:
        return Ignored("sent from the business's own phone")
    text = _caption(parsed.message or {}, parsed.messageType)
    return InboundMessage(parsed.key.id, _phone_digits(parsed.key), storable(text)[:MAX_TEXT_CHARS])


def _receipt(data: Any) -> GatewayEvent:
    parsed: UpdateData = _validate(UpdateData, data, ("data",))
    key_id = parsed.keyId or (parsed.key.id if parsed.key else None) or parsed.id
    if key_id is None:
        raise MalformedRequestError(
            "a messages.update needs the message key id", [{"loc": ["data", "keyId"], "msg": "Field required"}]
        )
    if parsed.fromMe is False:
        return Ignored("receipt of a message the customer sent")
    status = _NUMERIC_STATUS.get(parsed.status, "") if isinstance(parsed.status, int) else parsed.status.upper()
    level = GATEWAY_LEVELS.get(status)
    if level is None:
        return Ignored("status that is not a delivery receipt")
    return Receipt(key_id, status, level)


def _connection(data: Any) -> GatewayEvent:
    parsed: ConnectionData = _validate(ConnectionData, data, ("data",))
    state = parsed.state.lower()
    if state == "open":
        return ConnectionChange("open")
    if state in {"close", "refused"}:  # refused: QR code limit reached, nobody is logged in
        return ConnectionChange("close")
    return Ignored(f"connection state {state[:20]!r} needs no action")


def parse_webhook(raw: bytes) -> ParsedWebhook:
    """Read one gateway delivery, or raise ``MalformedRequestError``."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedRequestError("the webhook body is not JSON") from exc
    envelope: Envelope = _validate(Envelope, body, ())
    event = normalize_event_name(envelope.event)
    if event == UPSERT:
        payload = _inbound(envelope.data)
    elif event == UPDATE:
        payload = _receipt(envelope.data)
    elif event == CONNECTION:
        payload = _connection(envelope.data)
    else:
        payload = Ignored("event not handled")
    return ParsedWebhook(storable(event)[:100], payload)
