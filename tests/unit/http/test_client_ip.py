"""Which address a request comes from, when proxies stand in front and clients write headers too."""

from __future__ import annotations

import ipaddress

import pytest
from billing.http.auth import client_ip, rate_limit_subject

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.7", None, "203.0.113.7"),  # no proxy: the socket peer
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),  # an untrusted peer's header is ignored
        ("10.0.0.5", "198.51.100.1", "198.51.100.1"),  # one trusted proxy
        ("10.0.0.5", "198.51.100.1, 10.1.2.3", "198.51.100.1"),  # two trusted hops
        # Fewer hops than proxies, or a client writing its own header in front: only what a trusted
        # proxy appended counts, never the leftmost entry the client wrote.
        ("10.0.0.5", "6.6.6.6, 198.51.100.1", "198.51.100.1"),
        ("10.0.0.5", "1.1.1.1, 10.9.9.9", "1.1.1.1"),
        ("10.0.0.5", "not-an-ip, 10.9.9.9", "10.9.9.9"),  # garbage ends the walk at the last vouched hop
        ("10.0.0.5", "x" * 10_000, "10.0.0.5"),
        ("10.0.0.5", "198.51.100.1" + " " * 100, "198.51.100.1"),  # padding is not part of the address
        ("10.0.0.5", "1" * 100, "10.0.0.5"),  # too long to be an address: never parsed
        ("10.0.0.5", "198.51.100.1:4711", "198.51.100.1"),
        ("10.0.0.5", "[2001:db8::1]:443", "2001:db8::1"),
        ("10.0.0.5", "::ffff:198.51.100.1", "198.51.100.1"),
        ("fd00::1", "2001:DB8:0:0::2", "2001:db8::2"),  # normalised
        (None, None, "0.0.0.0"),
    ],
)
def test_the_client_is_the_first_address_no_trusted_proxy_vouches_for(
    peer: str | None, forwarded: str | None, client: str
) -> None:
    assert client_ip(peer, forwarded, trusted=PROXIES) == client


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert client_ip("10.0.0.5", "198.51.100.1", trusted=()) == "10.0.0.5"


def test_a_long_header_costs_a_bounded_walk() -> None:
    many = ", ".join(f"10.0.{i // 256}.{i % 256}" for i in range(5000))
    assert client_ip("10.0.0.1", many, trusted=PROXIES).startswith("10.")


def test_ipv6_clients_are_counted_by_their_64_and_ipv4_clients_alone() -> None:
    one, other = rate_limit_subject("2001:db8:1:2:aaaa::1"), rate_limit_subject("2001:db8:1:2:bbbb::9")
    assert one == other == "2001:db8:1:2::/64"
    assert rate_limit_subject("198.51.100.1") == "198.51.100.1"
