"""The sender's database functions (migration 0005) spell out status lists that ``billing.db.claims``
derives from ``billing.domain.states``; if the state machine changes, this says the functions must too."""

from __future__ import annotations

import sqlalchemy as sa


def function_body(name: str) -> str:
    from billing.db.engine import get_engine

    with get_engine().connect() as conn:
        return str(conn.execute(sa.text("SELECT pg_get_functiondef(CAST(:n AS regproc))"), {"n": name}).scalar_one())


def test_the_claim_function_picks_exactly_the_claimable_statuses(database_url: str) -> None:
    from billing.db import claims
    from billing.domain.states import CONTACT_CLAIMABLE, ContactStatus

    body = function_body("billing_claim_contact")
    assert f"c.status IN ({claims._CLAIMABLE_CONTACTS})" in body
    assert {s.value for s in CONTACT_CLAIMABLE} == {"pending", "pending_retry"}
    assert f"status = '{ContactStatus.SENDING.value}'" in body


def test_the_outcome_function_only_records_a_contact_still_sending(database_url: str) -> None:
    from billing.domain.states import ContactStatus

    body = function_body("billing_record_outcome")
    assert f"status = '{ContactStatus.SENDING.value}' AND claimed_by = p_token" in body
