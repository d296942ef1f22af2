"""The Evolution API v2 routes the billing system uses, with the gateway's real status codes and bodies.

Guard order follows the gateway: the instance must exist (404, even with a bad key), then the
``apikey`` header must match the instance token or the global key (401).
"""

from __future__ import annotations

import asyncio
import time
from http import HTTPStatus
from typing import Any

from aiohttp import web

from billing.sim.state import Instance, SimState
from billing.sim.webhooks import WebhookDispatcher

STATE_KEY = web.AppKey("sim_state", SimState)
WEBHOOKS_KEY = web.AppKey("sim_webhooks", WebhookDispatcher)
_MAX_HOLD_MS = 300_000  # Node's default requestTimeout cuts longer holds


def error(status: int, message: Any) -> web.Response:
    """The envelope of every error thrown through Evolution's Express error handler."""
    body = {"status": status, "error": HTTPStatus(status).phrase, "response": {"message": message}}
    return web.json_response(body, status=status)


def _normalise(number: str) -> str:
    number = number.split(":", maxsplit=1)[0] if "@" not in number else number
    if any(suffix in number for suffix in ("@g.us", "@s.whatsapp.net", "@lid", "@broadcast")):
        return number
    return "".join(ch for ch in number if ch.isdigit())


def _guard(request: web.Request) -> tuple[SimState, Instance | web.Response]:
    sim = request.app[STATE_KEY]
    name = request.match_info["instance"]
    instance = sim.instances.get(name)
    if instance is None:
        return sim, error(404, [f'The "{name}" instance does not exist'])
    if not sim.authorised(instance, request.headers.get("apikey")):
        return sim, error(401, "Unauthorized")
    return sim, instance


def _validate(body: Any) -> web.Response | None:
    if not isinstance(body, dict):
        return error(400, [["instance is not of a type(s) object"]])
    for required in ("number", "text"):
        if required not in body:
            return error(400, [[f'instance requires property "{required}"']])
    if not isinstance(body["number"], str):
        return error(400, [["Invalid format"]])
    if not isinstance(body["text"], str):
        return error(400, [["instance.text is not of a type(s) string"]])
    if not body["text"].strip():
        return error(400, ["Text is required"])
    return None


def _down(sim: SimState, number: str) -> web.Response:
    # A cached number fails inside the send's try/catch (400); otherwise the live lookup throws (500).
    if number in sim.known_numbers:
        return error(400, ["Error: Connection Closed"])
    return error(500, "Connection Closed")


async def send_text(request: web.Request) -> web.Response:
    arrived = time.time()
    sim, guarded = _guard(request)
    with sim.lock:
        sim.send_requests += 1
        if isinstance(guarded, Instance):
            guarded.send_requests += 1
    if isinstance(guarded, web.Response):
        return guarded
    instance = guarded
    failure = sim.next_failure(instance)
    if failure is not None:
        return web.json_response(failure.body, status=failure.status, headers=failure.headers)
    try:
        body = await request.json()
    except ValueError:
        return error(400, "Unexpected token in JSON at position 0")
    invalid = _validate(body)
    if invalid is not None:
        return invalid
    number = _normalise(body["number"])
    if instance.state != "open":
        return _down(sim, number)
    if not sim.exists(number):
        jid = number if "@" in number else f"{number}@s.whatsapp.net"
        return error(400, [{"jid": jid, "exists": False, "number": number}])
    delay = body.get("delay") if isinstance(body.get("delay"), int) else 0
    hold_ms = min(_MAX_HOLD_MS, sim.hold_ms(instance, delay))
    if hold_ms > 0:
        await asyncio.sleep(hold_ms / 1000)
        if instance.state != "open":  # went down while "typing"
            return _down(sim, number)
    message = sim.record(instance.name, number, body["text"], delay, arrived_wall=arrived)
    request.app[WEBHOOKS_KEY].message_sent(instance, message)
    return web.json_response(
        {
            "key": {"remoteJid": message.remote_jid, "fromMe": True, "id": message.message_id},
            "pushName": "Você",
            "status": "PENDING",
            "message": {"conversation": message.text},
            "contextInfo": None,
            "messageType": "conversation",
            "messageTimestamp": int(message.received_wall),
            "instanceId": instance.id,
            "source": "web",
        },
        status=201,
    )


async def connection_state(request: web.Request) -> web.Response:
    sim, guarded = _guard(request)
    if isinstance(guarded, web.Response):
        return guarded
    with sim.lock:
        guarded.state_requests += 1
    return web.json_response({"instance": {"instanceName": guarded.name, "state": guarded.state}})


async def whatsapp_numbers(request: web.Request) -> web.Response:
    sim, guarded = _guard(request)
    if isinstance(guarded, web.Response):
        return guarded
    try:
        body = await request.json()
        numbers = [_normalise(str(n)) for n in body["numbers"]]
    except (ValueError, KeyError, TypeError):
        return error(400, [['instance requires property "numbers"']])
    if guarded.state != "open":
        # The route answers 400 with the raw thrown object: here Baileys' Boom error, not the envelope.
        payload = {"statusCode": 428, "error": "Precondition Required", "message": "Connection Closed"}
        boom = {"data": None, "isBoom": True, "isServer": False, "output": {"statusCode": 428, "payload": payload}}
        return web.json_response(boom, status=400)
    rows = []
    for number in numbers:
        jid = number if "@" in number else f"{number}@s.whatsapp.net"
        rows.append({"jid": jid, "exists": sim.exists(number), "number": number})
    with sim.lock:
        sim.known_numbers.update(numbers)
    return web.json_response(rows)


async def fetch_instances(request: web.Request) -> web.Response:
    sim = request.app[STATE_KEY]
    apikey = request.headers.get("apikey") or ""
    is_global = sim.global_api_key is not None and sim.authorised(None, apikey)
    visible = [i for i in sim.instances.values() if is_global or sim.authorised(i, apikey)]
    if not is_global and not visible:
        return error(401, "Unauthorized")
    wanted = request.query.get("instanceName")
    if wanted is not None:
        visible = [i for i in visible if i.name == wanted]
        if not visible:
            return error(404, [f'Instance "{wanted}" not found'])
    return web.json_response([_instance_row(i) for i in visible])


def _instance_row(instance: Instance) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return {
        "id": instance.id,
        "name": instance.name,
        "connectionStatus": instance.state,
        "ownerJid": f"{instance.owner_number}@s.whatsapp.net",
        "profileName": instance.name,
        "profilePicUrl": None,
        "integration": "WHATSAPP-BAILEYS",
        "number": None,
        "businessId": None,
        "token": instance.token,
        "clientName": "evolution_simulator",
        "disconnectionReasonCode": None,
        "disconnectionObject": None,
        "disconnectionAt": None,
        "createdAt": now,
        "updatedAt": now,
        "Setting": {"rejectCall": False, "groupsIgnore": False, "alwaysOnline": False},
        "_count": {"Message": 0, "Contact": 0, "Chat": 0},
    }


async def welcome(request: web.Request) -> web.Response:
    return web.json_response(
        {"status": 200, "message": "Welcome to the Evolution API, it is working!", "version": "2.3.7-sim"}
    )


async def not_found(request: web.Request) -> web.Response:
    return error(404, [f"Cannot {request.method} {request.path}"])


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", welcome)
    app.router.add_post("/message/sendText/{instance}", send_text)
    app.router.add_get("/instance/connectionState/{instance}", connection_state)
    app.router.add_get("/instance/fetchInstances", fetch_instances)
    app.router.add_post("/chat/whatsappNumbers/{instance}", whatsapp_numbers)
