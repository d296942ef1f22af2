"""The simulator answers like Evolution v2 and its control API scripts it; checked with a raw HTTP client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from billing.sim.control import SimulatorClient
from billing.sim.server import SimulatorHandle, running_simulator

TOKEN = "tok-loja"
GLOBAL = "global-key"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    with running_simulator(global_api_key=GLOBAL) as handle:
        yield handle


@pytest.fixture
def sim(simulator: SimulatorHandle) -> SimulatorClient:
    simulator.client.reset()
    simulator.client.add_instance("loja", TOKEN)
    return simulator.client


@pytest.fixture
def http(simulator: SimulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator.base_url, headers={"apikey": TOKEN}) as client:
        yield client


def send(http: httpx.Client, body: Any, instance: str = "loja", **headers: str) -> httpx.Response:
    return http.post(f"/message/sendText/{instance}", json=body, headers=headers)


def test_a_send_answers_201_with_the_v2_message_shape(sim: SimulatorClient, http: httpx.Client) -> None:
    response = send(http, {"number": "+55 (11) 99999-8888", "text": "Olá", "delay": 0})
    body = response.json()
    assert response.status_code == 201
    assert body["key"]["remoteJid"] == "5511999998888@s.whatsapp.net"
    assert body["key"]["fromMe"] is True
    assert body["key"]["id"].startswith("3EB0") and len(body["key"]["id"]) == 22
    assert body["status"] == "PENDING"
    assert isinstance(body["messageTimestamp"], int)
    assert body["message"] == {"conversation": "Olá"}


def test_an_unknown_instance_is_404_before_the_key_is_checked(sim: SimulatorClient, http: httpx.Client) -> None:
    response = send(http, {"number": "5511999998888", "text": "x"}, instance="ghost", apikey="bad")
    assert response.status_code == 404
    assert response.json() == {
        "status": 404,
        "error": "Not Found",
        "response": {"message": ['The "ghost" instance does not exist']},
    }


def test_a_wrong_key_is_401_with_a_plain_string_message(sim: SimulatorClient, http: httpx.Client) -> None:
    response = send(http, {"number": "5511999998888", "text": "x"}, apikey="bad")
    assert response.status_code == 401
    assert response.json() == {"status": 401, "error": "Unauthorized", "response": {"message": "Unauthorized"}}


def test_the_global_key_is_accepted_for_any_instance(sim: SimulatorClient, http: httpx.Client) -> None:
    assert send(http, {"number": "5511999998888", "text": "x"}, apikey=GLOBAL).status_code == 201


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"number": "5511999998888"}, [['instance requires property "text"']]),
        ({"number": "5511999998888", "textMessage": {"text": "v1"}}, [['instance requires property "text"']]),
        ({"number": 5511999998888, "text": "x"}, [["Invalid format"]]),
        ({"number": "5511999998888", "text": "  "}, ["Text is required"]),
    ],
)
def test_invalid_bodies_get_the_gateways_validation_errors(
    sim: SimulatorClient, http: httpx.Client, body: Any, message: Any
) -> None:
    response = send(http, body)
    assert response.status_code == 400
    assert response.json()["response"]["message"] == message


def test_a_number_not_on_whatsapp_gets_the_exists_false_object(sim: SimulatorClient, http: httpx.Client) -> None:
    sim.mark_not_on_whatsapp(["+55 11 98888-7777"])
    response = send(http, {"number": "5511988887777", "text": "x"})
    assert response.status_code == 400
    assert response.json()["response"]["message"] == [
        {"jid": "5511988887777@s.whatsapp.net", "exists": False, "number": "5511988887777"}
    ]


def test_a_closed_instance_answers_connection_closed(sim: SimulatorClient, http: httpx.Client) -> None:
    sim.set_state("loja", "close")
    response = send(http, {"number": "5511999998888", "text": "x"})
    assert response.status_code == 500
    assert response.json()["response"]["message"] == "Connection Closed"
    assert http.get("/instance/connectionState/loja").json() == {"instance": {"instanceName": "loja", "state": "close"}}


def test_fail_next_answers_the_scripted_status_and_body_then_recovers(sim: SimulatorClient, http: httpx.Client) -> None:
    sim.fail_next(2, status=418, body={"odd": True}, headers={"X-Test": "1"})
    answers = [send(http, {"number": "5511999998888", "text": "x"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [418, 418, 201]
    assert answers[0].json() == {"odd": True} and answers[0].headers["X-Test"] == "1"


def test_throttle_next_answers_429_with_retry_after(sim: SimulatorClient, http: httpx.Client) -> None:
    sim.throttle_next(1, retry_after=7)
    response = send(http, {"number": "5511999998888", "text": "x"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"


def test_latency_holds_the_answer(sim: SimulatorClient, http: httpx.Client) -> None:
    sim.set_latency(300)
    started = time.monotonic()
    send(http, {"number": "5511999998888", "text": "x"})
    assert time.monotonic() - started >= 0.3
    sim.set_latency(0)


def test_fetch_instances_shows_all_to_the_global_key_and_only_its_own_to_a_token(
    sim: SimulatorClient, http: httpx.Client
) -> None:
    sim.add_instance("outra", "tok-outra")
    everyone = http.get("/instance/fetchInstances", headers={"apikey": GLOBAL}).json()
    own = http.get("/instance/fetchInstances").json()
    assert sorted(row["name"] for row in everyone) == ["loja", "outra"]
    assert [(row["name"], row["connectionStatus"]) for row in own] == [("loja", "open")]
    assert http.get("/instance/fetchInstances", headers={"apikey": "bad"}).status_code == 401
    missing = http.get("/instance/fetchInstances", params={"instanceName": "zzz"}, headers={"apikey": GLOBAL})
    assert missing.status_code == 404


def test_whatsapp_numbers_lists_existence_and_a_down_instance_answers_400(
    sim: SimulatorClient, http: httpx.Client
) -> None:
    sim.mark_not_on_whatsapp(["551188887777"])
    rows = http.post("/chat/whatsappNumbers/loja", json={"numbers": ["5511999998888", "551188887777"]}).json()
    assert [(r["number"], r["exists"]) for r in rows] == [("5511999998888", True), ("551188887777", False)]
    sim.set_state("loja", "close")
    down = http.post("/chat/whatsappNumbers/loja", json={"numbers": ["5511999998888"]})
    assert down.status_code == 400 and down.json()["isBoom"] is True


def test_an_unknown_route_answers_like_express(sim: SimulatorClient, http: httpx.Client) -> None:
    response = http.post("/message/sendTxt/loja", json={})
    assert response.status_code == 404
    assert response.json()["response"]["message"] == ["Cannot POST /message/sendTxt/loja"]


def test_bad_control_input_is_a_client_error(sim: SimulatorClient) -> None:
    with pytest.raises(httpx.HTTPStatusError) as bad_state:
        sim.set_state("loja", "sleeping")
    with pytest.raises(httpx.HTTPStatusError) as unknown:
        sim.set_state("ghost", "open")
    assert (bad_state.value.response.status_code, unknown.value.response.status_code) == (400, 404)


def test_concurrent_sends_are_all_recorded_with_unique_ids(sim: SimulatorClient, simulator: SimulatorHandle) -> None:
    def burst(worker: int) -> list[str]:
        with httpx.Client(base_url=simulator.base_url, headers={"apikey": TOKEN}) as client:
            return [
                send(client, {"number": f"55119{worker:04d}{i:04d}", "text": "x"}).json()["key"]["id"]
                for i in range(50)
            ]

    with ThreadPoolExecutor(8) as pool:
        ids = [i for chunk in pool.map(burst, range(8)) for i in chunk]
    messages = sim.messages("loja")
    assert len(messages) == 400 == len(set(ids))
    assert {m["message_id"] for m in messages} == set(ids)
    assert all(m["received_monotonic"] > 0 and m["received_wall"] > 0 for m in messages)


class Receiver:
    """A tiny webhook endpoint recording what the simulator posts."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.posts.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.02)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.server.shutdown()


def test_acks_are_posted_in_order_with_the_instance_secret_header(
    sim: SimulatorClient, http: httpx.Client, receiver: Receiver
) -> None:
    sim.configure(
        "loja", webhook_url=receiver.url, webhook_headers={"X-Webhook-Secret": "s3cret"}, webhook_ack_delay_ms=10
    )
    key_id = send(http, {"number": "5511999998888", "text": "x"}).json()["key"]["id"]
    receiver.wait_for(3)
    assert [body["data"]["status"] for _, body in receiver.posts] == ["SERVER_ACK", "DELIVERY_ACK", "READ"]
    headers, first = receiver.posts[0]
    assert headers["X-Webhook-Secret"] == "s3cret"
    assert first["event"] == "messages.update" and first["instance"] == "loja"
    assert first["data"]["keyId"] == key_id and first["data"]["fromMe"] is True
    assert first["data"]["remoteJid"] == "5511999998888@s.whatsapp.net"
    assert first["date_time"].endswith("Z") and first["apikey"] == TOKEN
    assert len(sim.webhooks()) == 3


def test_a_simulated_reply_posts_an_incoming_upsert(sim: SimulatorClient, receiver: Receiver) -> None:
    sim.configure("loja", webhook_url=receiver.url)
    result = sim.reply("loja", "5511999998888", "já paguei")
    assert result["http_status"] == 200
    _, body = receiver.posts[-1]
    assert body["event"] == "messages.upsert"
    assert body["data"]["key"] == {"remoteJid": "5511999998888@s.whatsapp.net", "fromMe": False, "id": result["key_id"]}
    assert body["data"]["message"] == {"conversation": "já paguei"}
