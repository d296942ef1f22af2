"""What every function entry point shares: health routes, routing, error -> problem+json mapping.

Entry points stay thin (parse -> one service call -> response); this module is the one place where
exceptions become HTTP status codes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from billing import errors

if TYPE_CHECKING:
    from flask import Request, Response

    from billing.adapters.broker import Token

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TRIGGER_TOKEN_HEADER = "X-Billing-Trigger-Token"  # noqa: S105 - a header name, not a secret
HEALTH_PATHS = frozenset({"/healthz", "/_/health", "/_/ready", "/readyz"})
DB_RETRY_AFTER_S = 5


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[Request, re.Match[str]], Response]


def route(method: str, pattern: str, handler: Callable[[Request, re.Match[str]], Response]) -> Route:
    # Anchored at the end only: OpenFaaS and some ingresses keep a prefix in front of our paths.
    return Route(method, re.compile(pattern + r"/?$"), handler)


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None, content_type: str = "application/json"
) -> Response:
    from flask import Response

    payload = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False, default=str)
    return Response(payload, status=status, headers=dict(headers or {}), content_type=content_type)


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors_: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    type_: str = "about:blank",
) -> Response:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if errors_:
        body["errors"] = list(errors_)
    return json_response(body, status, headers, content_type=PROBLEM_JSON)


def error_response(exc: BaseException) -> Response:
    """Map the exception tree onto problem+json answers (the only such mapping in the code base)."""
    if isinstance(exc, errors.RateLimitedError):
        return problem(429, "Too Many Requests", str(exc), headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, errors.AuthenticationError):
        return problem(401, "Unauthorized", str(exc), headers={"WWW-Authenticate": "X-Billing-API-Key"})
    if isinstance(exc, errors.PermissionDeniedError):
        return problem(403, "Forbidden", str(exc))
    if isinstance(exc, errors.NotFoundError):
        return problem(404, "Not Found", str(exc))
    if isinstance(exc, errors.ConflictError):
        return problem(409, "Conflict", str(exc))
    if isinstance(exc, errors.PayloadTooLargeError):
        return problem(413, "Payload Too Large", str(exc))
    if isinstance(exc, errors.UnsupportedMediaTypeError):
        return problem(415, "Unsupported Media Type", str(exc))
    if isinstance(exc, errors.MalformedRequestError):
        return problem(400, "Bad Request", str(exc), errors_=exc.errors)
    if isinstance(exc, errors.ValidationFailedError):
        return problem(422, "Unprocessable Content", str(exc), errors_=exc.errors)
    if isinstance(exc, errors.InvalidTransitionError):
        return problem(409, "Conflict", str(exc))
    if isinstance(exc, errors.DependencyUnavailableError):
        return problem(
            503, "Service Unavailable", f"{exc}; try again later", headers={"Retry-After": str(DB_RETRY_AFTER_S)}
        )
    logger.error(
        "unhandled error",
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"action": "http.unhandled", "error_type": type(exc).__name__},
    )
    return problem(500, "Internal Server Error", "unexpected error; it has been logged")


_logging_ready = False


def ensure_logging() -> None:
    """Configure JSON logging once per process, on the first request (entry points call nothing else)."""
    global _logging_ready
    if not _logging_ready:
        from billing.config import get_settings
        from billing.logs import configure_logging

        settings = get_settings()
        configure_logging(settings.log_level, settings.log_format)
        _logging_ready = True


def lazy(module: str, name: str) -> Callable[[Request, re.Match[str]], Response]:
    """A route handler imported on first use, so a cold start that only answers probes stays light."""
    resolved: list[Callable[[Request, re.Match[str]], Response]] = []

    def handler(request: Request, match: re.Match[str]) -> Response:
        if not resolved:
            import importlib

            resolved.append(getattr(importlib.import_module(module), name))
        return resolved[0](request, match)

    return handler


def _health() -> Response:
    return json_response({"status": "ok"})


def _metrics(request: Request) -> Response:
    from billing import metrics
    from billing.config import get_settings
    from billing.crypto import bearer_token, tokens_match

    token = get_settings().metrics_token
    presented = bearer_token(request.headers.get("Authorization"))
    if token is not None and not tokens_match(presented, token.get_secret_value()):
        return problem(401, "Unauthorized", "metrics need the metrics token", headers={"WWW-Authenticate": "Bearer"})

    try:
        body = metrics.render()
    except Exception as exc:  # a scrape must never take the function down
        return error_response(errors.DependencyUnavailableError(f"metrics unavailable: {type(exc).__name__}"))
    return json_response(body, content_type=metrics.CONTENT_TYPE)


def probe(request: Request) -> Response | None:
    """Health and metrics answers every function gives, whatever its routes."""
    if request.method not in {"GET", "HEAD"}:
        return None
    if request.path in HEALTH_PATHS:
        return _health()
    if request.path == "/metrics":
        return _metrics(request)
    return None


def dispatch(request: Request, routes: Sequence[Route]) -> Response:
    """Serve health probes, then the first route whose method and path match; errors become problems."""
    ensure_logging()
    path = request.path
    probed = probe(request)
    if probed is not None:
        return probed
    allowed: list[str] = []
    for candidate in routes:
        match = candidate.pattern.search(path)
        if match is None:
            continue
        if candidate.method != request.method:
            allowed.append(candidate.method)
            continue
        try:
            return candidate.handler(request, match)
        except Exception as exc:  # every failure must become a problem response
            return error_response(exc)
    if allowed:
        return problem(
            405,
            "Method Not Allowed",
            f"use {', '.join(sorted(set(allowed)))} on {path}",
            headers={"Allow": ", ".join(sorted(set(allowed)))},
        )
    return problem(404, "Not Found", f"no route for {path}")


def trigger(request: Request, handle: Callable[[Token], bool]) -> Response:
    """Serve a trigger function: health probes; any other request carries a token (CloudEvent or JSON).

    2xx when the token is handled (or needs nothing), 503 when it must be redelivered, 400 when it is
    malformed (redelivering a malformed token cannot help).
    """
    from billing.config import get_settings
    from billing.http.body import read_bounded
    from billing.http.triggers import MAX_TRIGGER_BYTES, parse_token

    ensure_logging()
    if request.method in {"GET", "HEAD"}:
        probed = probe(request)
        if probed is not None:
            return probed
        return problem(405, "Method Not Allowed", "POST a token", headers={"Allow": "POST"})
    expected = get_settings().trigger_token
    if expected is not None:
        from billing.crypto import bearer_token, tokens_match

        presented = request.headers.get(TRIGGER_TOKEN_HEADER) or bearer_token(request.headers.get("Authorization"))
        if not tokens_match(presented, expected.get_secret_value()):
            # Before a byte of the body is read: strangers get nothing, not even a parse error.
            logger.warning("trigger refused: no valid trigger token", extra={"action": "trigger.unauthorized"})
            return problem(
                401, "Unauthorized", f"send the trigger token in {TRIGGER_TOKEN_HEADER}",
                headers={"WWW-Authenticate": "Bearer"},
            )
    try:
        raw = read_bounded(request, MAX_TRIGGER_BYTES)
    except errors.PayloadTooLargeError:
        # A token is a few hundred bytes: redelivering one this large cannot help, like any malformed one.
        return problem(400, "Bad Request", f"trigger body is larger than {MAX_TRIGGER_BYTES} bytes")
    try:
        token = parse_token(dict(request.headers), raw)
    except errors.ValidationFailedError as exc:
        return problem(400, "Bad Request", str(exc), errors_=exc.errors)
    try:
        handled = handle(token)
    except errors.DependencyUnavailableError as exc:
        logger.warning("trigger deferred: %s", exc, extra={"action": "trigger.unavailable", "token_id": token.id})
        return problem(503, "Service Unavailable", str(exc), headers={"Retry-After": str(DB_RETRY_AFTER_S)})
    except Exception as exc:  # redeliver on anything unexpected, after logging it
        logger.exception("trigger failed", extra={"action": "trigger.failed", "token_id": token.id})
        return problem(500, "Internal Server Error", type(exc).__name__)
    if not handled:
        return problem(503, "Service Unavailable", "token not handled; redeliver", headers={"Retry-After": "5"})
    return json_response({"status": "handled", "token_id": token.id})
