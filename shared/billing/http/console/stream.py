"""The console's live progress bars follow the event stream with the session cookie: a browser's
EventSource cannot send the API-key header. The signed cookie names an operator; the stream treats them
like a read-only key of the tenant they are looking at (their own, or the one they switched to)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from billing.errors import AuthenticationError, PermissionDeniedError
from billing.http.auth import Principal, client_ip
from billing.http.console import session as cookies

if TYPE_CHECKING:
    from flask import Request
    from sqlmodel import Session

    from billing.config import Settings


def has_console_session(request: Request) -> bool:
    return bool(request.cookies.get(cookies.COOKIE))


def console_principal(request: Request, *, session: Session, settings: Settings) -> Principal:
    """The signed-in operator as a read-only principal of their current tenant (two statements).

    Server-Sent Events only: SameSite=Lax keeps other sites' pages from sending the cookie on a fetch,
    but a WebSocket handshake carries it from any page of a sibling host, and the console never opens
    one (an ERP's WebSocket client sends its API key)."""
    from billing.services.console.operators import load_operator, tenants_for

    if request.headers.get("Upgrade", "").lower() == "websocket":
        raise PermissionDeniedError("a WebSocket stream needs the API key header; the console's session follows SSE")

    secret = settings.billing_secret_key.get_secret_value()
    found = cookies.load(request.cookies.get(cookies.COOKIE), secret_key=secret)
    if found is None:
        raise AuthenticationError("the console session is missing, expired or forged: sign in again")
    operator = load_operator(session=session, operator_id=found.operator_id, session_epoch=found.epoch)
    tenants = tenants_for(session=session, operator=operator)
    tenant = next((t for t in tenants if str(t.id) == found.tenant_id), tenants[0] if tenants else None)
    if tenant is None:
        raise AuthenticationError("this operator has no tenant")
    return Principal(
        tenant_id=tenant.id,
        api_key_id=uuid.uuid5(uuid.NAMESPACE_URL, f"console-operator:{operator.id}"),  # its own stream budget
        key_name=f"console:{operator.email}",
        rate_limit_per_minute=0,
        allowed_types=None,
        client_ip=client_ip(
            request.remote_addr, request.headers.get("X-Forwarded-For"), trusted=settings.trusted_networks
        ),
        read_only=True,
    )
