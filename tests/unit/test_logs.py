from __future__ import annotations

import json
import logging

import pytest
from billing.logs import JsonFormatter, mask_phone, scrub_text


def test_phones_are_masked_keeping_country_and_area_and_the_last_two_digits() -> None:
    assert mask_phone("+5511999998888") == "+5511*******88"
    assert mask_phone("5511999998888") == "5511*******88"
    assert mask_phone("") == ""


def test_free_text_loses_every_phone_number_it_contains() -> None:
    text = scrub_text("sent to +5511999998888 and 5521988887777@s.whatsapp.net")
    assert "999998888" not in text and "988887777" not in text


def test_json_lines_carry_extra_fields_and_hide_secrets_and_phones() -> None:
    record = logging.LogRecord("billing.x", logging.INFO, __file__, 1, "sending to %s", ("+5511999998888",), None)
    record.action = "gateway.send"
    record.api_key = "super-secret"
    record.phone = "+5511999998888"
    line = JsonFormatter().format(record)
    payload = json.loads(line)
    assert payload["action"] == "gateway.send"
    assert payload["api_key"] == "***"
    assert "super-secret" not in line and "999998888" not in line


def test_identifiers_that_merely_contain_digit_runs_are_left_readable() -> None:
    token = "c7f79b164c444a6faa05551234556f273f"
    assert scrub_text(f"token {token} published") == f"token {token} published"
    contact_id = "36310057-d0b1-4da3-ad58-3f20cc06d2cf"
    assert scrub_text(f"contact_id={contact_id}") == f"contact_id={contact_id}"
    assert "999998888" not in scrub_text("jid 5511999998888@s.whatsapp.net")


@pytest.mark.parametrize(
    "typed",
    ["(11) 99999-8888", "+55 11 99999 8888", "+55 (11) 9 9999-8888", "11 99999-8888", "+55 11 9999.8888"],
)
def test_phones_as_people_format_them_are_masked_too(typed: str) -> None:
    text = scrub_text(f"contato {typed}: não entregue")
    digits = "".join(ch for ch in typed if ch.isdigit())
    assert digits[-6:-2] not in text.replace(" ", "").replace("-", "").replace(".", ""), text
    assert text.startswith("contato ") and text.endswith(": não entregue")


@pytest.mark.parametrize(
    "text", ["due 2026-11-20, sent 2026-11-30T13:33:45", "R$ 1.234,56 em 12/2026", "queue 3 of 10 (50.0%)"]
)
def test_dates_amounts_and_counts_are_not_taken_for_phones(text: str) -> None:
    assert scrub_text(text) == text
