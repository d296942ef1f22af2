"""Generated requests against status and control (issue 7, acceptance 5): whatever arrives, never a 5xx.

Cases come from the published OpenAPI document (schemathesis, positive and negative modes); a valid key
and a real queue id are swapped in often, so the generated bodies reach the services instead of
stopping at 401/404. A second test throws raw bytes, content types and cursors at both routes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from support.ops_factories import CONTROL, STATUS, client, create_queue
from support.send_factories import make_tenant

OPENAPI = Path(__file__).resolve().parents[2] / "shared" / "billing" / "http" / "openapi.json"
SCHEMA = schemathesis.openapi.from_path(str(OPENAPI))
OPERATIONS = {
    "status": SCHEMA["/api/v1/billing/queue/{queue_id}/status"]["GET"],
    "control": SCHEMA["/api/v1/billing/queue/{queue_id}/control"]["POST"],
}
_ROUTER_REFUSES = re.compile(r"%0[ADad]")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture
def world(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    from billing.adapters.broker import set_publisher
    from billing.config import reset_settings_cache
    from billing.testing import InMemoryBroker

    monkeypatch.setenv("BILLING_IP_RATE_LIMIT_PER_MINUTE", "1000000")
    reset_settings_cache()
    set_publisher(InMemoryBroker())
    tenant = make_tenant("acme", rate_limit=1_000_000)
    send = client("send")
    queues = [create_queue(send, tenant.key, 3) for _ in range(4)]
    yield {"key": tenant.key, "queues": queues, "status": client("status"), "control": client("control")}
    set_publisher(None)


def _send(world: dict[str, Any], name: str, case: Any, use_key: bool, queue: int | None) -> Any:
    headers = {k: v for k, v in (case.headers or {}).items() if isinstance(v, str)}
    if use_key:
        headers["X-Billing-API-Key"] = world["key"]
    path = case.formatted_path
    if queue is not None:
        path = (STATUS if name == "status" else CONTROL).format(world["queues"][queue])
    kwargs: dict[str, Any] = {"headers": headers, "query_string": case.query or None}
    if name == "control" and case.body is not schemathesis.core.NOT_SET:
        if isinstance(case.body, (bytes, str)):
            kwargs["data"] = case.body
            kwargs["content_type"] = case.media_type or "application/json"
        else:
            kwargs["json"] = case.body
    return world[name].open(path, method=case.method, **kwargs)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("name", ["status", "control"])
def test_generated_requests_never_get_a_5xx(world: dict[str, Any], name: str, mode: GenerationMode) -> None:
    @FUZZ
    @given(
        case=OPERATIONS[name].as_strategy(generation_mode=mode),
        use_key=st.booleans() | st.just(True),
        queue=st.none() | st.integers(0, 3),
    )
    def run(case: Any, use_key: bool, queue: int | None) -> None:
        response = _send(world, name, case, use_key, queue)
        assert response.status_code < 500, (case.formatted_path, case.body, response.get_data(as_text=True))
        # A path with a newline never reaches the function: Flask's router answers its own HTML 404.
        if response.status_code >= 400 and not _ROUTER_REFUSES.search(case.formatted_path):
            assert response.content_type == "application/problem+json", response.status_code

    run()


@FUZZ
@given(
    body=st.binary(max_size=300) | st.text(max_size=200).map(str.encode),
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/problem+json", "x/y; a=b"]),
    queue_ref=st.sampled_from([None, "x", "%00", "00000000-0000-0000-0000-000000000000"]) | st.text(max_size=40),
    cursor=st.none() | st.text(max_size=60),
)
def _raw_case(world: dict[str, Any], body: bytes, content_type: str, queue_ref: str | None, cursor: str | None) -> None:
    queue = world["queues"][0] if queue_ref is None else queue_ref.translate({ord(c): None for c in "/?#"})
    headers = {"X-Billing-API-Key": world["key"], "Content-Type": content_type}
    control = world["control"].post(CONTROL.format(queue), data=body, headers=headers)
    assert control.status_code < 500, control.get_data(as_text=True)
    query = {"failures_cursor": cursor} if cursor is not None else None
    status = world["status"].get(STATUS.format(queue), headers=headers, query_string=query)
    assert status.status_code < 500, status.get_data(as_text=True)


def test_raw_bodies_content_types_ids_and_cursors_never_get_a_5xx(world: dict[str, Any]) -> None:
    _raw_case(world)
