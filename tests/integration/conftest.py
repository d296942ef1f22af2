"""Fixtures shared by the integration tests of the HTTP functions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def broker() -> Iterator[Any]:
    """An in-memory publisher installed for the functions under test."""
    from billing.adapters.broker import set_publisher
    from billing.testing import InMemoryBroker

    fake = InMemoryBroker()
    set_publisher(fake)
    yield fake
    set_publisher(None)


@pytest.fixture
def send() -> Any:
    """A test client of the send function."""
    from support.ops_factories import client

    return client("send")
