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
def sim() -> Iterator[Any]:
    """A fresh Evolution API simulator over real HTTP (``SimulatorHandle``); modules may override it."""
    from billing.sim.server import running_simulator

    with running_simulator() as handle:
        yield handle


@pytest.fixture
def gateway_sim(database_url: str, broker_prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The real stack around a running simulator: this test's database and queues, pacing off."""
    from billing.adapters.broker import reset_publisher, set_publisher
    from billing.adapters.evolution import close_all_clients
    from billing.config import reset_settings_cache
    from billing.sim.server import running_simulator

    monkeypatch.setenv("BILLING_PACING_DISABLED", "true")
    reset_settings_cache()
    set_publisher(None)
    with running_simulator() as handle:
        yield handle
    reset_publisher()
    close_all_clients()


@pytest.fixture
def send() -> Any:
    """A test client of the send function."""
    from support.ops_factories import client

    return client("send")


@pytest.fixture
def sim_world(db: Any, sim: Any, broker_prefix: str) -> Any:
    """A committed tenant whose default instance lives in this test's simulator (``World``)."""
    from support.factories import make_world

    world = make_world(db, gateway_url=sim.base_url)
    world.register(sim.client)
    return world


@pytest.fixture
def control_fn() -> Any:
    """A test client of the control function."""
    from support.ops_factories import client

    return client("control")
