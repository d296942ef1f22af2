"""The sender's database functions (migration 0008) spell out status lists that ``billing.domain.states``
defines; if the state machine changes, this says the functions must too."""

from __future__ import annotations

import sqlalchemy as sa


def function_body(name: str) -> str:
    from billing.db.engine import get_engine

    with get_engine().connect() as conn:
        # The newest of its overloads (0026 keeps the previous release's billing_record_send as a wrapper).
        query = "SELECT pg_get_functiondef(oid) FROM pg_proc WHERE proname = :n ORDER BY pronargs DESC LIMIT 1"
        return str(conn.execute(sa.text(query), {"n": name}).scalar_one())


def test_the_dispatch_function_claims_exactly_the_claimable_statuses(database_url: str) -> None:
    from billing.domain.states import CONTACT_CLAIMABLE, ContactStatus

    body = function_body("billing_dispatch")
    listed = ", ".join(f"'{s.value}'" for s in sorted(CONTACT_CLAIMABLE))
    assert f"bc.status IN ({listed})" in body
    assert {s.value for s in CONTACT_CLAIMABLE} == {"pending", "pending_retry"}
    assert f"SET status = '{ContactStatus.SENDING.value}', claimed_by = p_claim" in body
    assert "FOR NO KEY UPDATE OF i SKIP LOCKED" in body  # replicas split due instances, never wait


def test_the_outcome_function_only_records_a_contact_still_sending_under_its_claim(database_url: str) -> None:
    from billing.domain.states import CONTACT_CLAIMABLE, ContactStatus

    body = function_body("billing_record_send")
    assert f"status = '{ContactStatus.SENDING.value}' AND claimed_by = p_claim" in body
    done = function_body("billing_complete_if_done")
    still_open = ", ".join(f"'{s.value}'" for s in sorted({*CONTACT_CLAIMABLE, ContactStatus.SENDING}))
    assert f"status IN ({still_open})" in done
