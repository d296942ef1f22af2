"""The tenant's suppression list: phones that opted out and are never messaged again.

A customer opts out by answering with one of the tenant's keywords (defaults below). The match is on
the whole message, trimmed, ignoring case, accents and surrounding punctuation, so "Párar " and
"stop!" count while "não quero parar agora" does not.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select

from billing.db.models import Suppression

DEFAULT_OPT_OUT_KEYWORDS: tuple[str, ...] = ("PARAR", "SAIR", "STOP", "CANCELAR")
OPT_OUT_REASON = "opt-out keyword"
_EDGE_PUNCTUATION = " \t\r\n.!?;:,'\"()[]-*_~"


def fold(text: str) -> str:
    """Comparable form: no accents, case-folded, inner whitespace collapsed, edges trimmed."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split()).strip(_EDGE_PUNCTUATION)


def is_opt_out(text: str, keywords: Sequence[str] | None = None) -> bool:
    """Whether the whole message is one of ``keywords`` (the defaults when None or empty)."""
    if len(text) > 200:  # no keyword is that long; skip folding large messages
        return False
    words = keywords or DEFAULT_OPT_OUT_KEYWORDS
    folded = fold(text)
    return bool(folded) and folded in {fold(k) for k in words if isinstance(k, str)}


def suppress(tenant_id: uuid.UUID, phone: str, *, session: Session, reason: str | None = OPT_OUT_REASON) -> bool:
    """Add ``phone`` (E.164) to the list; True when it was not there yet. Idempotent, race-free."""
    stmt: Any = (
        insert(Suppression)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, phone=phone, reason=reason)
        .on_conflict_do_nothing(constraint="uq_suppression_phone")
        .returning(sa.column("id"))
    )
    return session.execute(stmt).first() is not None


def unsuppress(tenant_id: uuid.UUID, phone: str, *, session: Session) -> bool:
    """Remove ``phone`` from the list; True when it was there."""
    stmt = sa.delete(Suppression).where(col(Suppression.tenant_id) == tenant_id, col(Suppression.phone) == phone)
    result = session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


def list_suppressions(tenant_id: uuid.UUID, *, session: Session, phone: str | None = None) -> list[Suppression]:
    stmt = select(Suppression).where(Suppression.tenant_id == tenant_id)
    if phone is not None:
        stmt = stmt.where(Suppression.phone == phone)
    return list(session.exec(stmt.order_by(col(Suppression.created_at), col(Suppression.phone))).all())


def suppressed_phones(tenant_id: uuid.UUID, phones: Iterable[str], *, session: Session) -> set[str]:
    """Which of ``phones`` are suppressed, in one query (for ingest and the sender)."""
    wanted = sorted(set(phones))
    if not wanted:
        return set()
    stmt = select(Suppression.phone).where(Suppression.tenant_id == tenant_id, col(Suppression.phone).in_(wanted))
    return set(session.exec(stmt).all())
