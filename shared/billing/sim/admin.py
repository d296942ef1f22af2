"""The simulator's control API under ``/_sim/``: script the gateway's behaviour, inspect what it got."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from email.utils import formatdate
from typing import Any

from aiohttp import web

from billing.sim.app import STATE_KEY, WEBHOOKS_KEY
from billing.sim.state import STATES, ScriptedFailure

Handler = Callable[[web.Request], Awaitable[web.Response]]


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response({"error": detail}, status=status)


def _safe(handler: Handler) -> Handler:
    """Bad control input answers 400/404 instead of a stack trace."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except KeyError as exc:
            return _problem(404, f"unknown instance {exc}")
        except (ValueError, TypeError) as exc:
            return _problem(400, str(exc))

    return wrapped


async def _json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


async def list_instances(request: web.Request) -> web.Response:
    sim = request.app[STATE_KEY]
    with sim.lock:
        return web.json_response([i.public() for i in sim.instances.values()])


async def add_instance(request: web.Request) -> web.Response:
    body = await _json(request)
    name = body.pop("name")
    instance = request.app[STATE_KEY].add_instance(str(name), body.pop("token", None), **body)
    return web.json_response(instance.public(), status=201)


async def configure_instance(request: web.Request) -> web.Response:
    instance = request.app[STATE_KEY].configure(request.match_info["name"], **await _json(request))
    return web.json_response(instance.public())


async def remove_instance(request: web.Request) -> web.Response:
    if not request.app[STATE_KEY].remove_instance(request.match_info["name"]):
        raise KeyError(request.match_info["name"])
    return web.json_response({"removed": request.match_info["name"]})


async def set_state(request: web.Request) -> web.Response:
    state = (await _json(request)).get("state")
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}")
    instance = request.app[STATE_KEY].configure(request.match_info["name"], state=state)
    return web.json_response(instance.public())


async def fail_next(request: web.Request) -> web.Response:
    body = await _json(request)
    status = int(body.get("status", 500))
    payload = body.get("body")
    if payload is None:
        payload = {"status": status, "error": "Simulated", "response": {"message": ["Simulated failure"]}}
    failure = ScriptedFailure(status, payload, {str(k): str(v) for k, v in body.get("headers", {}).items()})
    count = int(body.get("count", 1))
    request.app[STATE_KEY].script_failures(body.get("instance"), [failure] * count)
    return web.json_response({"scripted": count})


async def throttle_next(request: web.Request) -> web.Response:
    body = await _json(request)
    seconds = float(body.get("retry_after", 1))
    header = formatdate(time.time() + seconds, usegmt=True) if body.get("http_date") else f"{seconds:g}"
    payload = {"status": 429, "error": "Too Many Requests", "response": {"message": ["Too many requests"]}}
    count = int(body.get("count", 1))
    failure = ScriptedFailure(429, payload, {"Retry-After": header})
    request.app[STATE_KEY].script_failures(body.get("instance"), [failure] * count)
    return web.json_response({"scripted": count, "retry_after": header})


async def set_latency(request: web.Request) -> web.Response:
    body = await _json(request)
    ms, jitter = int(body.get("ms", 0)), int(body.get("jitter_ms", 0))
    request.app[STATE_KEY].set_latency(ms, body.get("instance"), jitter_ms=jitter)
    return web.json_response({"ms": ms, "jitter_ms": jitter, "instance": body.get("instance")})


async def mark_numbers(request: web.Request) -> web.Response:
    body = await _json(request)
    numbers = ["".join(c for c in str(n) if c.isdigit()) for n in body.get("numbers", [])]
    request.app[STATE_KEY].mark_numbers(numbers, on_whatsapp=bool(body.get("on_whatsapp", False)))
    return web.json_response({"numbers": numbers, "on_whatsapp": bool(body.get("on_whatsapp", False))})


async def list_messages(request: web.Request) -> web.Response:
    messages = request.app[STATE_KEY].list_messages(request.query.get("instance"))
    return web.json_response([asdict(m) for m in messages])


async def clear_messages(request: web.Request) -> web.Response:
    request.app[STATE_KEY].clear()
    return web.json_response({"cleared": True})


async def reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"reset": True})


async def stats(request: web.Request) -> web.Response:
    sim = request.app[STATE_KEY]
    with sim.lock:
        return web.json_response(
            {
                "send_requests": sim.send_requests,
                "messages": len(sim.messages),
                "instances": {
                    i.name: {"send_requests": i.send_requests, "state_requests": i.state_requests}
                    for i in sim.instances.values()
                },
            }
        )


async def webhooks(request: web.Request) -> web.Response:
    sim = request.app[STATE_KEY]
    with sim.lock:
        return web.json_response(list(sim.webhook_log))


async def reply(request: web.Request) -> web.Response:
    body = await _json(request)
    sim = request.app[STATE_KEY]
    instance = sim.instances[str(body["instance"])]
    dispatcher = request.app[WEBHOOKS_KEY]
    data = dispatcher.reply_data(instance, str(body["number"]), str(body.get("text", "")))
    status = await dispatcher.deliver(instance, "messages.upsert", data)
    return web.json_response({"key_id": data["key"]["id"], "http_status": status})


def add_routes(app: web.Application) -> None:
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "/_sim/instances", list_instances),
        ("POST", "/_sim/instances", add_instance),
        ("PATCH", "/_sim/instances/{name}", configure_instance),
        ("DELETE", "/_sim/instances/{name}", remove_instance),
        ("POST", "/_sim/instances/{name}/state", set_state),
        ("POST", "/_sim/fail", fail_next),
        ("POST", "/_sim/throttle", throttle_next),
        ("POST", "/_sim/latency", set_latency),
        ("POST", "/_sim/numbers", mark_numbers),
        ("GET", "/_sim/messages", list_messages),
        ("DELETE", "/_sim/messages", clear_messages),
        ("POST", "/_sim/reset", reset),
        ("GET", "/_sim/stats", stats),
        ("GET", "/_sim/webhooks", webhooks),
        ("POST", "/_sim/reply", reply),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, _safe(handler))
