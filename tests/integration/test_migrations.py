from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from billing.db import migrate
from billing.db.engine import sqlalchemy_url
from billing.db.models import metadata


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(sqlalchemy_url(url))
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_round_trips_on_an_empty_database(database_url: str) -> None:
    assert set(metadata.tables) <= _tables(database_url)
    migrate.downgrade(database_url, "base")
    assert _tables(database_url) == {"alembic_version"}
    migrate.upgrade(database_url, "head")
    assert set(metadata.tables) <= _tables(database_url)


def test_the_migrations_match_the_models(database_url: str) -> None:
    engine = sa.create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_rows_written_before_the_inbox_are_backfilled(database_url: str) -> None:
    """An open conversation keeps waiting (unread 1), replies already made count on their queue, and an
    old default notification template declares the variable it uses."""
    from support.factories import make_queue, make_world

    world = make_world(gateway_url="http://127.0.0.1:1")
    from datetime import UTC, datetime

    replied = [{"status": "sent", "replied_at": datetime.now(UTC)}, {}]
    queue_id = make_queue(None, world, 2, overrides=replied)
    migrate.downgrade(database_url, "0014")
    engine = sa.create_engine(sqlalchemy_url(database_url))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE billing_queues SET replied = 0"))
            conn.execute(sa.text("UPDATE templates SET variables_schema = NULL WHERE template_type = 'notification'"))
            conn.execute(
                sa.text(
                    "INSERT INTO conversations (id, tenant_id, instance_id, phone, is_open, last_message_at,"
                    " created_at) VALUES (gen_random_uuid(), :t, :i, '+5511900000001', true, now(), now())"
                ),
                {"t": world.tenant_id, "i": world.instance_id},
            )
        migrate.upgrade(database_url, "head")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT unread FROM conversations")).scalar_one() == 1
            counted = conn.execute(sa.text("SELECT replied FROM billing_queues WHERE id = :q"), {"q": queue_id})
            assert counted.scalar_one() == 1
            schema = conn.execute(
                sa.text("SELECT variables_schema FROM templates WHERE template_type = 'notification'")
            ).scalar_one()
            assert "mensagem" in schema["properties"]
    finally:
        engine.dispose()
