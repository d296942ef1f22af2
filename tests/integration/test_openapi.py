"""The committed OpenAPI document is current, served, and the send route survives fuzzing from it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from billing.adapters.broker import reset_publisher
from billing.config import reset_settings_cache
from billing.http.openapi import DOCUMENT_PATH, render_document
from billing.http.send_schemas import SendResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.send_factories import make_tenant, send_client

ROOT = Path(__file__).resolve().parents[2]
SEND_PATHS = [f"/api/v1/billing/send/{t}" for t in ("overdue", "upcoming", "notification")]
FUZZ_EXAMPLES_PER_MODE = 90  # x 3 routes x 2 modes = 540 requests


def test_the_committed_document_is_what_the_models_generate() -> None:
    assert DOCUMENT_PATH.read_text(encoding="utf-8") == render_document(), (
        "openapi.json is stale: run `python -m billing.http.openapi --write`"
    )
    assert (ROOT / "openapi.json").read_text(encoding="utf-8") == render_document()


def test_the_document_covers_the_five_erp_routes_with_auth_and_problem_answers() -> None:
    doc = json.loads(render_document())
    assert doc["openapi"].startswith("3.1")
    routes = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert {(p, "post") for p in SEND_PATHS} | {
        ("/api/v1/billing/queue/{queue_id}/status", "get"),
        ("/api/v1/billing/queue/{queue_id}/control", "post"),
    } <= routes
    assert doc["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Billing-API-Key",
    }
    send = doc["paths"][SEND_PATHS[0]]["post"]
    assert send["parameters"][0]["name"] == "Idempotency-Key"
    for status in ("400", "401", "403", "404", "409", "413", "415", "422", "429", "503"):
        assert "application/problem+json" in send["responses"][status]["content"]
    status_op = doc["paths"]["/api/v1/billing/queue/{queue_id}/status"]["get"]
    assert {p["name"] for p in status_op["parameters"]} == {"queue_id", "failures_cursor"}
    assert set(doc["components"]["schemas"]) >= {"StatusResponse", "ControlRequest", "Problem", "SendRequest"}


def test_the_send_function_serves_the_document(database_url: str) -> None:
    answer = send_client().get("/api/v1/billing/openapi.json")
    assert answer.status_code == 200 and answer.get_json() == json.loads(render_document())


@pytest.fixture
def fuzz_env(database_url: str, broker_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("BILLING_IP_RATE_LIMIT_PER_MINUTE", "100000")
    reset_settings_cache()
    reset_publisher()
    yield make_tenant(rate_limit=100_000)
    reset_publisher()


def test_fuzzing_the_send_routes_from_the_document_never_gives_a_5xx(fuzz_env: Any) -> None:
    import schemathesis
    from functions_framework import create_app
    from schemathesis import GenerationMode

    app = create_app(target="send", source="functions/send/main.py")
    schema = schemathesis.openapi.from_wsgi("/api/v1/billing/openapi.json", app)
    seen: Counter[int] = Counter()
    auth = {"X-Billing-API-Key": fuzz_env.key}

    for path in SEND_PATHS:
        operation = schema[path]["POST"]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=FUZZ_EXAMPLES_PER_MODE,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode), keyed=st.booleans())
            def check(case: Any, keyed: bool) -> None:
                # Negative cases also go out without a key now and then, to fuzz the 401 path.
                response = case.call(headers=auth if keyed or case.meta.generation.mode.is_positive else None)
                seen[response.status_code] += 1
                assert response.status_code < 500, response.text
                found = {k.lower(): v for k, v in response.headers.items()}.get("content-type", [""])
                content_type = found[0] if isinstance(found, list) else found
                if response.status_code >= 400:
                    assert content_type == "application/problem+json", response.text
                    problem = json.loads(response.content)
                    assert problem["status"] == response.status_code and problem["title"]
                else:
                    SendResponse.model_validate_json(response.content)

            check()
    assert sum(seen.values()) >= 500, seen
