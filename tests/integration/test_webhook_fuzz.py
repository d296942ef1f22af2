"""Whatever the gateway (or anyone holding the secret) posts, the webhook never answers 5xx."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from billing.adapters.broker import set_publisher
from billing.testing import InMemoryBroker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.webhook_factories import World, connection, make_queue, make_world, post, update, upsert, webhook_client

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
events = st.sampled_from(
    ["messages.upsert", "messages.update", "connection.update", "send.message", "MESSAGES_UPDATE", "", "x" * 150]
)
statuses = st.sampled_from(["SERVER_ACK", "DELIVERY_ACK", "READ", "PLAYED", "ERROR", "PENDING", "DELETED"])
key_ids = st.text(min_size=0, max_size=140) | st.sampled_from(["3EB0F1", "3EB0F2", "3A554E20ECABF3D45BB2"])
texts = st.text(max_size=300) | st.sampled_from(["PARAR", "Párar ", "stop", "\x00", "\ud800"])


def _mutate(body: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """Replace (or add) one field somewhere inside a real-shaped body."""
    out = copy.deepcopy(body)
    node: Any = out
    for key in path[:-1]:
        if not isinstance(node, dict):
            return out
        node = node.setdefault(key, {})
    if isinstance(node, dict):
        node[path[-1]] = value
    return out


real_bodies = st.one_of(
    st.builds(lambda t, k: upsert(t, key_id=k or "3A00"), texts, key_ids),
    st.builds(update, key_ids.filter(bool), statuses),
    st.builds(connection, st.sampled_from(["open", "close", "connecting", "refused"]), st.integers()),
)
field_paths = st.sampled_from(
    [
        ["event"],
        ["data"],
        ["data", "key"],
        ["data", "key", "remoteJid"],
        ["data", "key", "id"],
        ["data", "key", "fromMe"],
        ["data", "message"],
        ["data", "message", "conversation"],
        ["data", "keyId"],
        ["data", "status"],
        ["data", "fromMe"],
        ["data", "state"],
        ["data", "key", "remoteJidAlt"],
    ]
)
mutated = st.builds(_mutate, real_bodies, field_paths, json_values)
envelopes = st.fixed_dictionaries({"event": events, "data": json_values}, optional={"instance": json_values})


@pytest.fixture(scope="module")
def _module_broker() -> Iterator[InMemoryBroker]:
    memory = InMemoryBroker()
    set_publisher(memory)
    yield memory
    set_publisher(None)


@pytest.fixture
def world(database_url: str, _module_broker: InMemoryBroker) -> World:
    built = make_world()
    make_queue(built, [{"provider_message_id": k} for k in ("3EB0F1", "3EB0F2")])
    return built


def _check(client: Any, world: World, raw: bytes) -> None:
    answer = post(client, world, raw)
    assert answer.status_code < 500, (raw[:300], answer.get_data(as_text=True))
    assert answer.status_code in {200, 400}


@FUZZ
@given(body=mutated)
def test_mutated_real_payloads_never_cause_a_5xx(world: World, body: dict[str, Any]) -> None:
    _check(webhook_client(), world, json.dumps(body).encode())


@FUZZ
@given(body=envelopes | json_values)
def test_random_json_shapes_never_cause_a_5xx(world: World, body: Any) -> None:
    _check(webhook_client(), world, json.dumps(body).encode())


@FUZZ
@given(raw=st.binary(max_size=400))
def test_garbage_bytes_never_cause_a_5xx(world: World, raw: bytes) -> None:
    _check(webhook_client(), world, raw)
