"""API-key authentication: lookup by prefix, constant-time hash check, expiry, IP and type limits.

The lookup itself is part of the guard's single statement (``billing.http.guard``); this module says
what the key row it returns means."""

from __future__ import annotations

import functools
import ipaddress
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from billing.contract.queues import Actor
from billing.crypto import hash_api_key, split_api_key, verify_api_key
from billing.errors import AuthenticationError, PermissionDeniedError

logger = logging.getLogger(__name__)

LAST_USED_RESOLUTION = timedelta(minutes=1)

_TOUCH = sa.text(
    "UPDATE api_keys SET last_used_at = :now WHERE id = :id AND (last_used_at IS NULL OR last_used_at < :stale)"
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant, the key, and what the key may do."""

    tenant_id: uuid.UUID
    api_key_id: uuid.UUID
    key_name: str
    rate_limit_per_minute: int
    allowed_types: tuple[str, ...] | None
    client_ip: str
    read_only: bool = False

    def require_type(self, template_type: str) -> None:
        if self.allowed_types is not None and template_type not in self.allowed_types:
            raise PermissionDeniedError(f"this API key may not send {template_type!r} reminders")

    def actor(self) -> Actor:
        """The use cases' view of this caller (who acted, for the audit log; which types it may touch)."""
        return Actor(
            tenant_id=self.tenant_id,
            api_key_id=self.api_key_id,
            client_ip=self.client_ip,
            template_types=self.allowed_types,
        )

    def require_write(self) -> None:
        """A read-only key follows queues; it may neither send nor control them."""
        if self.read_only:
            raise PermissionDeniedError("this API key is read-only: it may read queues, not send or change them")


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_FORWARDED_HOPS = 16


# Parsing an address with ipaddress was 2.4 % of the status route's time; a process sees the same few
# (its proxies, its clients) over and over, so answers are remembered, a bounded number of them, each
# at most _LONGEST_ADDRESS characters (the longest IPv6 address in brackets with a port is 53; a
# link-local address with a zone id longer than that is not taken for an address).
_ADDRESSES_KEPT = 4096
_LONGEST_ADDRESS = 64


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as a proxy writes it (``1.2.3.4``, ``1.2.3.4:5678``, ``[2001:db8::1]:443``), or None."""
    text = text.strip()
    return _parsed_address(text) if len(text) <= _LONGEST_ADDRESS else None


@functools.lru_cache(maxsize=_ADDRESSES_KEPT)
def _parsed_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def client_ip(remote_addr: str | None, forwarded_for: str | None, *, trusted: Sequence[Network]) -> str:
    """The caller's address, normalised.

    Each proxy appends the address it saw to X-Forwarded-For, and only trusted proxies (``trusted``,
    by network) can be believed: walking from the socket peer leftwards, the client is the first
    address that is not a trusted proxy. A hop that is not an address ends the walk at the last
    address a trusted proxy vouched for, so nothing the client wrote itself is ever used unchecked.
    """
    peer = _address(remote_addr or "") or ipaddress.ip_address("0.0.0.0")  # noqa: S104 - a placeholder
    client = peer
    if trusted and forwarded_for:
        hops = forwarded_for.split(",")[-MAX_FORWARDED_HOPS:]
        while any(client in network for network in trusted) and hops:
            hop = _address(hops.pop())
            if hop is None:
                break
            client = hop
    return str(client)


@functools.lru_cache(maxsize=_ADDRESSES_KEPT)
def rate_limit_subject(ip: str) -> str:
    """What an address is counted as: itself, or its /64 for IPv6 (one subscriber holds a whole /64)."""
    address = ipaddress.ip_address(ip)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return ip


def _ip_allowed(ip: str, cidrs: Sequence[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(c, strict=False) for c in cidrs)


@dataclass(frozen=True)
class PresentedKey:
    """A key as the caller sent it: its lookup prefix and its hash, computed before any query."""

    full: str
    prefix: str
    key_hash: str

    @classmethod
    def parse(cls, presented: str | None) -> PresentedKey:
        if not presented:
            raise AuthenticationError("missing X-Billing-API-Key header")
        full = presented.strip()
        prefix = split_api_key(full)
        if prefix is None:
            raise AuthenticationError("invalid API key")
        return cls(full, prefix, hash_api_key(full))


def check_key(
    presented: PresentedKey, row: Mapping[Any, Any] | None, *, ip: str, session: Session, now: datetime
) -> Principal:
    """The principal of a looked-up key row (``None``: no key has that prefix), or the reason it is
    refused. Refreshes ``last_used_at`` when it is a minute old (one more statement, once a minute)."""
    if row is None or row["id"] is None or not verify_api_key(presented.full, row["key_hash"]):
        raise AuthenticationError("invalid API key")
    if not row["active"]:
        raise AuthenticationError("this API key has been revoked")
    if row["expires_at"] is not None and row["expires_at"] <= now:
        raise AuthenticationError("this API key has expired")
    if row["allowed_ips"] and not _ip_allowed(ip, row["allowed_ips"]):
        logger.warning(
            "API key used from a disallowed address",
            extra={"action": "auth.ip_denied", "api_key_id": str(row["id"]), "client_ip": ip},
        )
        raise PermissionDeniedError("this API key may not be used from this address")
    if row["last_used_at"] is None or row["last_used_at"] < now - LAST_USED_RESOLUTION:
        session.connection().execute(_TOUCH, {"now": now, "id": row["id"], "stale": now - LAST_USED_RESOLUTION})
    return Principal(
        tenant_id=row["tenant_id"],
        api_key_id=row["id"],
        key_name=row["name"],
        rate_limit_per_minute=int(row["rate_limit"]),
        allowed_types=tuple(row["allowed_types"]) if row["allowed_types"] else None,
        client_ip=ip,
        read_only=bool(row["read_only"]),
    )
