"""The ERP webhook client: signatures the specification's verifier accepts, and every answer (or none)
turned into a ``PostResult`` without raising."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from billing.adapters.outbound_webhooks import HttpWebhookPoster, signed_headers
from billing.domain.webhooks import format_secret
from standardwebhooks import Webhook, WebhookVerificationError

SECRET = format_secret(bytes(range(24)))
BODY = '{"type":"queue.completed","timestamp":"2026-11-30T12:00:00Z","data":{"nome":"João"}}'.encode()


def test_the_signature_is_v1_base64_hmac_sha256_of_id_timestamp_body_with_the_secrets_bytes() -> None:
    at = datetime.now(UTC)
    headers = signed_headers(SECRET, msg_id="evt_7", at=at, body=BODY)
    assert headers["webhook-id"] == "evt_7" and headers["webhook-timestamp"] == str(int(at.timestamp()))
    assert headers["content-type"] == "application/json"
    signed = b"evt_7." + headers["webhook-timestamp"].encode() + b"." + BODY
    expected = base64.b64encode(hmac.new(bytes(range(24)), signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    assert Webhook(SECRET).verify(BODY, headers)["data"] == {"nome": "João"}
    with pytest.raises(WebhookVerificationError):
        Webhook(format_secret(bytes(24))).verify(BODY, headers)
    stale = signed_headers(SECRET, msg_id="evt_7", at=at - timedelta(minutes=6), body=BODY)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(BODY, stale)


def test_the_test_vector_in_the_erp_documentation_is_what_we_send() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "events.md").read_text(encoding="utf-8")
    found = re.search(r"webhook-signature: (\S+)\n\n(\{\"type\".*\})\n```", doc)
    assert found, "docs/events.md lost its example delivery"
    at = datetime.fromtimestamp(1796040001, UTC)
    headers = signed_headers("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", msg_id="evt_1042", at=at, body=found[2].encode())
    assert headers["webhook-signature"] == found[1]


def poster(handler: object, timeout_s: float = 1.0) -> HttpWebhookPoster:
    return HttpWebhookPoster(timeout_s=timeout_s, transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def test_the_answer_is_its_status_and_retry_after_and_redirects_are_not_followed() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/busy":
            return httpx.Response(429, headers={"Retry-After": "30"})
        if request.url.path == "/moved":
            return httpx.Response(301, headers={"Location": "https://elsewhere.example.com/"})
        return httpx.Response(204)

    client = poster(answer)
    ok = client.post("https://erp.example.com/ok", body=BODY, headers={"webhook-id": "evt_1"})
    assert (ok.status, ok.error) == (204, None) and seen[0].content == BODY and seen[0].headers["webhook-id"] == "evt_1"
    busy = client.post("https://erp.example.com/busy", body=BODY, headers={})
    assert (busy.status, busy.retry_after_s, busy.error) == (429, 30.0, "HTTP 429")
    moved = client.post("https://erp.example.com/moved", body=BODY, headers={})
    assert moved.status == 301 and len(seen) == 3


@pytest.mark.parametrize(
    ("failure", "error"),
    [(httpx.ConnectTimeout("slow"), "timed out"), (httpx.ReadTimeout("slow"), "timed out"),
     (httpx.ConnectError("refused"), "ConnectError")],
)  # fmt: skip
def test_no_answer_is_a_result_without_a_status_never_an_exception(failure: Exception, error: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    result = poster(fail).post("https://erp.example.com/hooks", body=BODY, headers={})
    assert (result.status, result.error) == (None, error) and result.duration_s >= 0


def test_a_url_httpx_cannot_use_is_a_result_too() -> None:
    """A host IDNA refuses (``xn--``) raises from inside httpx, not as an HTTPError."""
    result = poster(lambda request: httpx.Response(204)).post("https://xn--/hooks", body=BODY, headers={})
    assert result.status is None and result.error


def test_a_dripping_answer_is_not_waited_for_once_the_status_is_known() -> None:
    import time

    class Drip(httpx.SyncByteStream):
        def __iter__(self) -> Any:
            for _ in range(50):
                time.sleep(0.05)
                yield b"x"

    client = poster(lambda request: httpx.Response(200, stream=Drip()), timeout_s=0.2)
    started = time.monotonic()
    result = client.post("https://erp.example.com/hooks", body=BODY, headers={})
    assert result.status == 200 and time.monotonic() - started < 1.0
