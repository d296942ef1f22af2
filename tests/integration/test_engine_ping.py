from __future__ import annotations

import psycopg2
import pytest
import sqlalchemy as sa
from billing.db import engine as engine_module
from billing.db.engine import unit_of_work
from billing.errors import DatabaseUnavailableError


def _terminate_pooled_backends(database_url: str) -> int:
    name = database_url.rsplit("/", 1)[1]
    conn = psycopg2.connect(database_url.rsplit("/", 1)[0] + "/postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def test_an_idle_pooled_connection_killed_by_the_server_is_replaced_transparently(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with unit_of_work() as uow:
        assert uow.session.execute(sa.text("SELECT 1")).scalar() == 1
    assert _terminate_pooled_backends(database_url) >= 1  # e.g. a database restart or failover
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)
    with unit_of_work() as uow:
        assert uow.session.execute(sa.text("SELECT 2")).scalar() == 2


def test_a_recently_used_connection_is_not_pinged_and_a_dead_one_answers_503_not_500(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with unit_of_work() as uow:
        uow.session.execute(sa.text("SELECT 1"))
    _terminate_pooled_backends(database_url)
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 3600.0)  # just used: no ping, no extra round trip
    with pytest.raises(DatabaseUnavailableError), unit_of_work() as uow:
        uow.session.execute(sa.text("SELECT 1"))
    with unit_of_work() as uow:  # the dead connection was discarded; the next request is served
        assert uow.session.execute(sa.text("SELECT 3")).scalar() == 3


def test_a_raw_hot_path_statement_on_a_dead_connection_answers_503_and_the_connection_is_discarded(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.db.engine import autocommit_session
    from billing.db.raw import fetch_one

    with autocommit_session() as session:
        assert fetch_one(session, "SELECT 1 AS one", {}).one == 1
    _terminate_pooled_backends(database_url)
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 3600.0)  # no ping: the statement meets the dead socket
    with pytest.raises(DatabaseUnavailableError), autocommit_session() as session:
        fetch_one(session, "SELECT 1 AS one", {})
    with autocommit_session() as session:  # invalidated, not handed out again
        assert fetch_one(session, "SELECT %(n)s AS n", {"n": 3}).n == 3


def test_one_lost_connection_retires_every_pooled_connection_opened_before_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contextlib import ExitStack

    from billing.db.engine import autocommit_session
    from billing.db.raw import fetch_one

    with ExitStack() as held:  # three connections in the pool at once
        for session in [held.enter_context(autocommit_session()) for _ in range(3)]:
            assert fetch_one(session, "SELECT 1 AS one", {}).one == 1
    assert _terminate_pooled_backends(database_url) >= 3  # a restart or failover drops them all
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 3600.0)
    with pytest.raises(DatabaseUnavailableError), autocommit_session() as session:
        fetch_one(session, "SELECT 1 AS one", {})
    for n in range(3):  # the first failure answered for the whole pool: no request meets a dead one again
        with autocommit_session() as session:
            assert fetch_one(session, "SELECT %(n)s AS n", {"n": n}).n == n


def test_a_raw_hot_path_statement_that_fails_raises_sqlalchemys_error_without_its_parameters(database_url: str) -> None:
    from billing.db.engine import autocommit_session
    from billing.db.raw import fetch_one

    with pytest.raises(sa.exc.DataError) as caught, autocommit_session() as session:
        fetch_one(session, "SELECT %(phone)s::text, 1 / 0", {"phone": "+5511999990000"})
    assert "division by zero" in str(caught.value) and "+5511999990000" not in str(caught.value)
    with autocommit_session() as session:  # the connection still serves
        assert fetch_one(session, "SELECT 1 AS one WHERE false", {}) is None
