"""Reading Evolution webhook bodies into the contract's gateway events, with no I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest
from billing.adapters.evolution_webhook import normalize_event_name, parse_webhook
from billing.contract.gateway_events import ConnectionChange, Ignored, InboundMessage, Receipt
from billing.domain.receipts import ReceiptLevel
from billing.errors import MalformedRequestError


def raw(event: str, data: Any) -> bytes:
    return json.dumps({"event": event, "instance": "loja", "data": data, "apikey": None}).encode()


def upsert_data(jid: str, text: str | None = "oi", **key: Any) -> dict[str, Any]:
    message = {"conversation": text} if text is not None else {"imageMessage": {"url": "https://x"}}
    return {
        "key": {"remoteJid": jid, "fromMe": False, "id": "3A55", **key},
        "message": message,
        "messageType": "conversation" if text is not None else "imageMessage",
    }


def test_a_customer_text_becomes_an_inbound_message_with_its_phone_digits() -> None:
    parsed = parse_webhook(raw("messages.upsert", upsert_data("5511988887777@s.whatsapp.net", "Já paguei")))
    assert parsed.event == "messages.upsert"
    assert parsed.payload == InboundMessage("3A55", "5511988887777", "Já paguei")


def test_extended_text_and_captions_are_read_and_media_without_text_gets_a_placeholder() -> None:
    data = upsert_data("5511988887777@s.whatsapp.net")
    data["message"] = {"extendedTextMessage": {"text": "veja o link"}}
    assert isinstance(p := parse_webhook(raw("messages.upsert", data)).payload, InboundMessage)
    assert p.text == "veja o link"
    media = parse_webhook(raw("messages.upsert", upsert_data("5511988887777@s.whatsapp.net", None))).payload
    assert isinstance(media, InboundMessage) and media.text == "[imageMessage]"


@pytest.mark.parametrize(
    ("jid", "alt", "digits"),
    [
        ("5511988887777:12@s.whatsapp.net", None, "5511988887777"),
        ("123456789012345@lid", "5511988887777@s.whatsapp.net", "5511988887777"),
        ("123456789012345@lid", None, None),
        ("120363025246125486@g.us", None, None),
        ("status@broadcast", None, None),
    ],
)
def test_the_sender_phone_comes_from_the_jid_or_its_lid_alternative(
    jid: str, alt: str | None, digits: str | None
) -> None:
    extra = {"remoteJidAlt": alt} if alt else {}
    payload = parse_webhook(raw("messages.upsert", upsert_data(jid, **extra))).payload
    assert isinstance(payload, InboundMessage) and payload.phone_digits == digits


def test_messages_from_the_business_phone_are_ignored() -> None:
    data = upsert_data("5511988887777@s.whatsapp.net", fromMe=True)
    assert isinstance(parse_webhook(raw("messages.upsert", data)).payload, Ignored)


def test_text_is_made_storable() -> None:
    payload = parse_webhook(raw("messages.upsert", upsert_data("5511988887777@s.whatsapp.net", "a\x00b\ud800"))).payload
    assert isinstance(payload, InboundMessage) and payload.text == "ab?"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"keyId": "3EB0", "fromMe": True, "status": "SERVER_ACK"},
            Receipt("3EB0", "SERVER_ACK", ReceiptLevel.SERVER_ACK),
        ),
        ({"keyId": "3EB0", "status": "DELIVERY_ACK"}, Receipt("3EB0", "DELIVERY_ACK", ReceiptLevel.DELIVERED)),
        ({"key": {"id": "3EB0"}, "status": "read"}, Receipt("3EB0", "READ", ReceiptLevel.READ)),
        ({"id": "3EB0", "status": 5}, Receipt("3EB0", "PLAYED", ReceiptLevel.READ)),
        ({"keyId": "3EB0", "status": "DELETED"}, Ignored("status that is not a delivery receipt")),
        ({"keyId": "3EB0", "status": "READ", "fromMe": False}, Ignored("receipt of a message the customer sent")),
    ],
)
def test_receipts_map_gateway_statuses_onto_levels(data: dict[str, Any], expected: object) -> None:
    assert parse_webhook(raw("messages.update", data)).payload == expected


def test_levels_round_trip_through_their_stored_labels() -> None:
    for level in (ReceiptLevel.SERVER_ACK, ReceiptLevel.DELIVERED, ReceiptLevel.READ):
        assert ReceiptLevel.from_label(level.label) is level
    assert ReceiptLevel.from_label(None) is ReceiptLevel.NONE


@pytest.mark.parametrize(("state", "expected"), [("open", "open"), ("close", "close"), ("refused", "close")])
def test_connection_states_that_matter(state: str, expected: str) -> None:
    assert parse_webhook(raw("connection.update", {"state": state})).payload == ConnectionChange(expected)


def test_connecting_and_unknown_events_are_ignored() -> None:
    assert isinstance(parse_webhook(raw("connection.update", {"state": "connecting"})).payload, Ignored)
    assert isinstance(parse_webhook(raw("send.message", {"key": {}})).payload, Ignored)
    assert isinstance(parse_webhook(raw("chats.update", None)).payload, Ignored)


@pytest.mark.parametrize("name", ["MESSAGES_UPDATE", "messages-update", " messages.update "])
def test_event_names_in_config_and_path_form_are_the_same_event(name: str) -> None:
    assert normalize_event_name(name) == "messages.update"


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b"null",
        b'{"event": 1}',
        raw("messages.upsert", [1]),
        raw("messages.update", {"status": "READ"}),
        raw("messages.update", {"keyId": "x" * 129, "status": "READ"}),
        raw("connection.update", {}),
    ],
)
def test_unreadable_bodies_are_malformed_with_field_locations(body: bytes) -> None:
    with pytest.raises(MalformedRequestError) as caught:
        parse_webhook(body)
    assert all("loc" in e for e in caught.value.errors)
