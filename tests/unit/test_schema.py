from __future__ import annotations

from billing.db.models import GLOBAL_TABLES, metadata


def test_every_tenant_owned_table_has_a_tenant_id_column() -> None:
    missing = [
        name for name, table in metadata.tables.items() if name not in GLOBAL_TABLES and "tenant_id" not in table.c
    ]
    assert missing == []


def test_tenant_ids_are_foreign_keys_to_tenants_and_not_nullable() -> None:
    for name, table in metadata.tables.items():
        if name in GLOBAL_TABLES:
            continue
        column = table.c["tenant_id"]
        assert not column.nullable, name
        assert {fk.column.table.name for fk in column.foreign_keys} == {"tenants"}, name


def test_every_timestamp_column_is_timezone_aware() -> None:
    naive = [
        f"{name}.{col.name}"
        for name, table in metadata.tables.items()
        for col in table.c
        if col.type.__class__.__name__ == "DateTime" and not getattr(col.type, "timezone", False)
    ]
    assert naive == []


def test_the_sender_claim_has_a_partial_index_on_claimable_contacts() -> None:
    index = next(i for i in metadata.tables["billing_contacts"].indexes if i.name == "ix_contact_claimable")
    assert [c.name for c in index.columns] == ["queue_id", "position"]
    assert "pending_retry" in str(index.dialect_options["postgresql"]["where"])
