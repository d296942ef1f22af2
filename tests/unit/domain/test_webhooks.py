"""ERP webhook rules: secrets, endpoint URLs, what an answer means and the retry schedule."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from billing.domain.webhooks import (
    STANDARD_SCHEDULE_S,
    PostResult,
    Verdict,
    check_url,
    format_secret,
    gives_up,
    message_id,
    parse_schedule,
    parse_secret,
    payload,
    retry_delay,
)
from billing.errors import InvalidValueError


def test_a_secret_is_whsec_and_base64_of_24_to_64_bytes() -> None:
    key = bytes(range(32))
    assert parse_secret(format_secret(key)) == key
    for bad, why in (
        ("c2VjcmV0", "starts with whsec_"),
        ("whsec_not base64!", "base64"),
        ("whsec_" + base64.b64encode(b"x" * 23).decode(), "this one 23"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "this one 65"),
    ):
        with pytest.raises(InvalidValueError, match=why):
            parse_secret(bad)


@pytest.mark.parametrize(
    ("url", "production", "allowed"),
    [
        ("https://erp.example.com/hooks?tenant=1", True, True),
        ("http://127.0.0.1:9000/hooks", False, True),
        ("http://localhost/hooks", False, True),
        ("http://127.0.0.1:9000/hooks", True, False),
        ("http://erp.example.com/hooks", False, False),
        ("ftp://erp.example.com/hooks", False, False),
        ("erp.example.com/hooks", False, False),
        ("https://" + "a" * 2000 + ".com", False, False),
    ],
)
def test_webhooks_go_over_https_and_plain_http_only_to_this_machine_outside_production(
    url: str, production: bool, allowed: bool
) -> None:
    if allowed:
        assert check_url(f"  {url} ", production=production) == url
    else:
        with pytest.raises(InvalidValueError):
            check_url(url, production=production)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(200, Verdict.DELIVERED), (204, Verdict.DELIVERED), (299, Verdict.DELIVERED), (410, Verdict.GONE),
     (301, Verdict.FAILED), (404, Verdict.FAILED), (429, Verdict.FAILED), (500, Verdict.FAILED),
     (None, Verdict.FAILED)],
)  # fmt: skip
def test_any_2xx_is_delivered_410_is_gone_and_the_rest_is_tried_again(status: int | None, verdict: Verdict) -> None:
    assert PostResult(status).verdict is verdict


def test_the_schedule_is_the_specifications_with_ten_percent_jitter_and_its_last_step_repeats() -> None:
    assert STANDARD_SCHEDULE_S == (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    schedule = STANDARD_SCHEDULE_S
    assert [retry_delay(n, schedule, retry_after_s=None, rand=0.5) for n in range(1, 10)] == list(schedule[1:])
    assert retry_delay(30, schedule, retry_after_s=None, rand=0.5) == 86400
    assert retry_delay(2, schedule, retry_after_s=None, rand=0.0) == pytest.approx(270)
    assert retry_delay(2, schedule, retry_after_s=None, rand=0.999999) == pytest.approx(330, abs=0.01)


def test_retry_after_can_ask_for_longer_up_to_the_longest_step_never_for_sooner() -> None:
    schedule = STANDARD_SCHEDULE_S
    assert retry_delay(1, schedule, retry_after_s=120, rand=0.5) == 120
    assert retry_delay(3, schedule, retry_after_s=1, rand=0.5) == 1800
    assert retry_delay(1, schedule, retry_after_s=10 * 86400, rand=0.5) == 86400


def test_a_shortened_schedule_parses_and_nonsense_is_refused() -> None:
    assert parse_schedule("0, 0.2,1") == (0, 0.2, 1)
    for bad in ("", "5,-1", "soon"):
        with pytest.raises(InvalidValueError):
            parse_schedule(bad)


def test_an_endpoint_gives_up_after_failing_for_the_whole_period() -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    five_days = timedelta(days=5)
    assert not gives_up(since, since + five_days - timedelta(seconds=1), after=five_days)
    assert gives_up(since, since + five_days, after=five_days)


def test_the_body_is_type_timestamp_and_data_and_the_id_is_stable_per_event() -> None:
    body = payload("contact.sent", "2026-11-30T12:00:00Z", {"phone": "+5511999998888", "name": "João"})
    assert json.loads(body) == {
        "type": "contact.sent", "timestamp": "2026-11-30T12:00:00Z", "data": {"phone": "+5511999998888", "name": "João"}
    }  # fmt: skip
    assert b" " not in body.replace("João".encode(), b"") and "João".encode() in body
    assert message_id(41) == "evt_41" == message_id(41)


@pytest.mark.parametrize("status", [429, 502, 504])
def test_an_answer_asking_to_slow_down_waits_one_step_more(status: int) -> None:
    schedule = (0, 5, 300, 1800)
    assert PostResult(status).throttled and not PostResult(500).throttled and not PostResult(None).throttled
    assert retry_delay(1, schedule, retry_after_s=None, rand=0.5, throttled=True) == 300
    assert retry_delay(1, schedule, retry_after_s=None, rand=0.5) == 5
    assert retry_delay(5, schedule, retry_after_s=None, rand=0.5, throttled=True) == 1800  # the last step repeats
