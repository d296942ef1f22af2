"""What the console's settings page reads and does.

``settings_page`` reads the tenant's business hours (several windows a weekday), closed dates, sending
settings, API keys and ERP webhook endpoints with their latest deliveries: a constant number of
statements whatever the tenant's size (no statement per key, endpoint or delivery). Each change parses
the form's text here (Portuguese messages naming the field), goes through the same admin use case as the
CLI and writes its audit entry in the same transaction. A created API key is answered once and never
logged or audited (only its name and prefix are).
"""

from __future__ import annotations

import logging
import math
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from billing.contract.queues import Actor
from billing.db.engine import UnitOfWork
from billing.db.models import ApiKey, BusinessHoursWindow, Tenant
from billing.errors import ConflictError, NotFoundError, ValidationFailedError
from billing.services.admin.credentials import create_api_key, revoke_api_key
from billing.services.admin.listing import list_api_keys, show_tenant
from billing.services.admin.tenants import CONFIG_FIELDS, add_closed_date, remove_hours, set_config, set_hours
from billing.services.audit import audit_entry
from billing.services.inbound.suppression import DEFAULT_OPT_OUT_KEYWORDS
from billing.services.webhooks_out.endpoints import list_endpoints

logger = logging.getLogger(__name__)

RECENT_DELIVERIES = 5  # per endpoint on the page (``billing endpoint show`` lists more)
MAX_REASON = 200  # closed_dates.reason
MAX_KEYWORDS = 20
MAX_KEYWORD = 40
KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
TIME = re.compile(r"(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})(?::(?P<s>[0-9]{2}))?")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
INTEGER = re.compile(r"[0-9]{1,9}")
DECIMAL = re.compile(r"[0-9]{1,6}(?:[.,][0-9]{1,3})?")
MODES = ("replace", "add")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # no one types these in a one-line field

_RECENT = sa.text(
    """
    SELECT e.id AS endpoint_id, d.event_id, d.event_type, d.attempt, d.status_code, d.outcome, d.error,
           d.duration_ms, d.attempted_at
      FROM billing_endpoints e
      CROSS JOIN LATERAL (
            SELECT * FROM billing_endpoint_deliveries r
             WHERE r.endpoint_id = e.id ORDER BY r.id DESC LIMIT :per_endpoint
      ) d
     WHERE e.tenant_id = :tenant_id
     ORDER BY e.id, d.id DESC
    """
)


@dataclass(frozen=True)
class DayHours:
    weekday: int  # 0 = Monday
    windows: list[tuple[time, time]]


@dataclass(frozen=True)
class ClosedDay:
    day: date
    reason: str | None


@dataclass(frozen=True)
class Sending:
    throttle_per_minute: int
    jitter_s: float
    daily_cap: int | None
    opt_out_keywords: list[str]  # empty: the defaults apply
    default_keywords: tuple[str, ...]


@dataclass(frozen=True)
class EndpointRow:
    view: dict[str, Any]  # ``endpoint_view``: never the secret
    behind: int  # events of the tenant after the endpoint's cursor
    deliveries: list[dict[str, Any]]


@dataclass(frozen=True)
class SettingsPage:
    timezone: str
    today: date
    hours: list[DayHours]  # the seven weekdays, Monday first
    closed_dates: list[ClosedDay]  # today and later
    past_closed: int
    sending: Sending
    keys: list[dict[str, Any]]
    endpoints: list[EndpointRow]


@dataclass(frozen=True)
class NewKey:
    name: str
    prefix: str
    read_only: bool
    key: str  # shown once, never stored in clear


def _tenant(tenant_id: uuid.UUID, session: Session) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFoundError("tenant")
    return tenant


def _today(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def settings_page(*, tenant_id: uuid.UUID, session: Session, now: datetime) -> SettingsPage:
    from billing.db import events as event_store

    tenant = _tenant(tenant_id, session)
    shown = show_tenant(tenant, session=session)
    config = shown["config"]
    timezone = config["timezone"]
    today = _today(now, timezone)
    windows: dict[int, list[tuple[time, time]]] = {d: [] for d in range(7)}
    for row in shown["business_hours"]:
        windows[row["weekday"]].append((time.fromisoformat(row["start_time"]), time.fromisoformat(row["end_time"])))
    closed = [ClosedDay(date.fromisoformat(r["day"]), r["reason"]) for r in shown["closed_dates"]]
    upcoming = [c for c in closed if c.day >= today]
    sending = Sending(
        throttle_per_minute=config["throttle_per_minute"],
        jitter_s=config["jitter_s"],
        daily_cap=config["daily_cap"],
        opt_out_keywords=list(config["opt_out_keywords"] or []),
        default_keywords=DEFAULT_OPT_OUT_KEYWORDS,
    )
    keys = list_api_keys(tenant, session=session)
    endpoints = list_endpoints(str(tenant.id), session=session)
    deliveries: dict[str, list[dict[str, Any]]] = {}
    params = {"tenant_id": tenant.id, "per_endpoint": RECENT_DELIVERIES}
    for row in session.execute(_RECENT, params).mappings():
        deliveries.setdefault(str(row["endpoint_id"]), []).append(dict(row))
    latest = event_store.last_id(session.connection(), tenant_id=tenant.id)
    return SettingsPage(
        timezone=timezone,
        today=today,
        hours=[DayHours(d, windows[d]) for d in range(7)],
        closed_dates=upcoming,
        past_closed=len(closed) - len(upcoming),
        sending=sending,
        keys=keys,
        endpoints=[
            EndpointRow(e, max(0, latest - int(e["last_event_id"])), deliveries.get(e["id"], [])) for e in endpoints
        ],
    )


# --- parsing the forms ---------------------------------------------------------------------------------


def _refused(problems: dict[str, str]) -> ValidationFailedError:
    return ValidationFailedError(
        "; ".join(problems.values()), [{"loc": [field], "msg": msg} for field, msg in problems.items()]
    )


def _weekday(raw: str | None, problems: dict[str, str]) -> int:
    value = (raw or "").strip()
    if len(value) != 1 or value not in "0123456":
        problems["weekday"] = "escolha um dia da semana (0 = segunda … 6 = domingo)"
        return -1
    return int(value)


def _time(raw: str | None, field: str, words: str, problems: dict[str, str]) -> time | None:
    match = TIME.fullmatch((raw or "").strip())
    if match is None or int(match["h"]) > 23 or int(match["m"]) > 59 or int(match["s"] or 0) > 59:
        problems[field] = f"{words}: informe a hora como HH:MM (00:00 a 23:59)"
        return None
    return time(int(match["h"]), int(match["m"]))


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


# --- business hours and closed dates ------------------------------------------------------------------


def set_window(
    weekday: str | None, start: str | None, end: str | None, mode: str | None, *, actor: Actor, uow: UnitOfWork
) -> None:
    """Set the weekday's window (``replace``: its windows become this one) or add one more (``add``: it
    may not overlap the others), as ``billing hours set [--add]``."""
    problems: dict[str, str] = {}
    day = _weekday(weekday, problems)
    opens = _time(start, "start", "abertura", problems)
    closes = _time(end, "end", "fechamento", problems)
    chosen = mode or "replace"
    if chosen not in MODES:
        problems["mode"] = "escolha substituir ou acrescentar"
    if opens is not None and closes is not None and closes <= opens:
        problems["end"] = "o fechamento deve ser depois da abertura"
    if problems or opens is None or closes is None:
        raise _refused(problems)
    session = uow.session
    tenant = _tenant(actor.tenant_id, session)
    if chosen == "add":
        existing = session.exec(
            select(BusinessHoursWindow).where(
                BusinessHoursWindow.tenant_id == tenant.id, BusinessHoursWindow.weekday == day
            )
        ).all()
        for other in existing:
            if opens < other.end_time and other.start_time < closes:
                raise _refused(
                    {
                        "start": f"a janela das {_hhmm(opens)} às {_hhmm(closes)} se sobrepõe à das "
                        f"{_hhmm(other.start_time)} às {_hhmm(other.end_time)}: escolha substituir ou outro horário"
                    }
                )
    set_hours(tenant, session=session, weekdays=[day], start=opens, end=closes, add=chosen == "add")
    session.add(audit_entry(actor, "hours.set", weekday=day, start=_hhmm(opens), end=_hhmm(closes), mode=chosen))
    uow.commit()
    logger.info(
        "console: business hours set",
        extra={"action": "console.hours_set", "weekday": day, "mode": chosen},
    )


def remove_day(weekday: str | None, *, actor: Actor, uow: UnitOfWork) -> int:
    """Remove every window of the weekday (no sending on it), as ``billing hours remove``."""
    problems: dict[str, str] = {}
    day = _weekday(weekday, problems)
    if problems:
        raise _refused(problems)
    session = uow.session
    removed = remove_hours(_tenant(actor.tenant_id, session), session=session, weekdays=[day])
    session.add(audit_entry(actor, "hours.remove", weekday=day, removed=removed))
    uow.commit()
    logger.info("console: business hours removed", extra={"action": "console.hours_remove", "weekday": day})
    return removed


def close_day(day: str | None, reason: str | None, *, actor: Actor, uow: UnitOfWork, now: datetime) -> date:
    """Add a closed date (no reminder goes out on it), as ``billing hours close``."""
    from billing.services.admin.lookups import get_config

    problems: dict[str, str] = {}
    raw = (day or "").strip()
    parsed: date | None = None
    if DAY.fullmatch(raw):
        try:
            parsed = date.fromisoformat(raw)
        except ValueError:
            parsed = None
    if parsed is None:
        problems["date"] = "informe uma data válida (AAAA-MM-DD)"
    why = (reason or "").strip() or None
    if why is not None and (len(why) > MAX_REASON or CONTROL.search(why)):
        problems["reason"] = f"o motivo: até {MAX_REASON} caracteres, numa linha só"
    if problems or parsed is None:
        raise _refused(problems)
    session = uow.session
    tenant = _tenant(actor.tenant_id, session)
    if parsed < _today(now, get_config(tenant.id, session=session).timezone):
        raise _refused({"date": "a data já passou"})
    try:
        add_closed_date(tenant, session=session, day=parsed, reason=why)
    except ConflictError:
        raise _refused({"date": f"{parsed:%d/%m/%Y} já é uma data fechada"}) from None
    session.add(audit_entry(actor, "closed_date.add", day=parsed.isoformat(), reason=why))
    uow.commit()
    logger.info("console: closed date added", extra={"action": "console.closed_date_add", "day": parsed.isoformat()})
    return parsed


_REOPEN = sa.text("DELETE FROM closed_dates WHERE tenant_id = :tenant_id AND day = :day RETURNING reason")


def reopen_day(day: str | None, *, actor: Actor, uow: UnitOfWork) -> date:
    """Remove a closed date added by mistake (reminders go out on it again, within business hours)."""
    raw = (day or "").strip()
    try:
        parsed = date.fromisoformat(raw) if DAY.fullmatch(raw) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise _refused({"date": "informe uma data válida (AAAA-MM-DD)"})
    removed = uow.session.execute(_REOPEN, {"tenant_id": actor.tenant_id, "day": parsed}).first()
    if removed is None:
        raise NotFoundError(f"{parsed:%d/%m/%Y} não é uma data fechada")
    uow.session.add(audit_entry(actor, "closed_date.remove", day=parsed.isoformat(), reason=removed.reason))
    uow.commit()
    logger.info("console: closed date removed", extra={"action": "console.closed_date_remove", "day": raw})
    return parsed


# --- sending ------------------------------------------------------------------------------------------


def _bounded_int(raw: str | None, field: str, words: str, problems: dict[str, str]) -> int | None:
    low, high = CONFIG_FIELDS[field]
    value = (raw or "").strip()
    if not INTEGER.fullmatch(value) or not low <= int(value) <= high:
        problems[field] = f"{words}: informe um número inteiro de {low} a {high}"
        return None
    return int(value)


def save_sending(
    throttle_per_minute: str | None,
    jitter_s: str | None,
    daily_cap: str | None,
    opt_out_keywords: str | None,
    *,
    actor: Actor,
    uow: UnitOfWork,
) -> dict[str, Any]:
    """Change the pace, the daily cap (empty: no cap) and the opt-out keywords (comma separated; empty:
    the defaults), as ``billing config set``. Every field is checked before anything changes."""
    problems: dict[str, str] = {}
    throttle = _bounded_int(throttle_per_minute, "throttle_per_minute", "mensagens por minuto", problems)
    low, high = CONFIG_FIELDS["jitter_s"]
    raw_jitter = (jitter_s or "").strip()
    jitter: float | None = None
    if DECIMAL.fullmatch(raw_jitter):
        jitter = float(raw_jitter.replace(",", "."))
    if jitter is None or not math.isfinite(jitter) or not low <= jitter <= high:
        problems["jitter_s"] = f"variação: informe segundos de {low} a {high} (por exemplo 2 ou 2,5)"
        jitter = None
    cap: int | None = None
    if (daily_cap or "").strip():
        cap = _bounded_int(daily_cap, "daily_cap", "limite diário", problems)
    keywords = [k.strip() for k in (opt_out_keywords or "").split(",") if k.strip()]
    if len(keywords) > MAX_KEYWORDS or any(len(k) > MAX_KEYWORD or CONTROL.search(k) for k in keywords):
        problems["opt_out_keywords"] = (
            f"palavras de descadastro: até {MAX_KEYWORDS} palavras de até {MAX_KEYWORD} caracteres, "
            "separadas por vírgula"
        )
    if problems or throttle is None or jitter is None:
        raise _refused(problems)
    session = uow.session
    tenant = _tenant(actor.tenant_id, session)
    config = set_config(
        tenant,
        session=session,
        throttle_per_minute=throttle,
        jitter_s=jitter,
        daily_cap=cap,
        opt_out_keywords=keywords,  # empty: the default keywords apply
    )
    if cap is None and config.daily_cap is not None:  # set_config skips None: an emptied field lifts the cap
        config.daily_cap = None
        session.add(config)
        session.flush()
    changes: dict[str, Any] = {
        "throttle_per_minute": throttle,
        "jitter_s": jitter,
        "daily_cap": cap,
        "opt_out_keywords": keywords,
    }
    session.add(
        audit_entry(
            actor, "config.set", throttle_per_minute=throttle, jitter_s=jitter, daily_cap=cap, opt_out_keywords=keywords
        )
    )
    uow.commit()
    logger.info("console: sending settings saved", extra={"action": "console.config_set"})
    return changes


# --- API keys -----------------------------------------------------------------------------------------


def new_api_key(name: str | None, read_only: bool, *, actor: Actor, uow: UnitOfWork) -> NewKey:
    """Create an API key (``billing apikey create``); the answer holds the key, shown once. The audit
    entry and the log name the key and its prefix, never the key."""
    wanted = (name or "").strip()
    if not KEY_NAME.fullmatch(wanted):
        raise _refused(
            {
                "name": "nome: 1 a 100 letras sem acento, números, ponto, hífen ou sublinhado "
                "(comece por letra ou número)"
            }
        )
    session = uow.session
    tenant = _tenant(actor.tenant_id, session)
    try:
        row, plaintext = create_api_key(tenant, session=session, name=wanted, read_only=read_only)
    except ConflictError:
        raise _refused(
            {"name": f"já existe uma chave chamada {wanted!r} (ativa ou revogada): escolha outro nome"}
        ) from None
    session.add(audit_entry(actor, "api_key.create", name=wanted, prefix=row.prefix, read_only=read_only))
    uow.commit()
    logger.info(
        "console: API key created",
        extra={"action": "console.api_key_create", "key_name": wanted, "prefix": row.prefix},
    )
    return NewKey(wanted, row.prefix, read_only, plaintext)


def revoke_key(name: str, *, actor: Actor, uow: UnitOfWork) -> bool:
    """Revoke the tenant's key ``name`` (``billing apikey revoke``); False (and nothing audited) when it
    already was."""
    session = uow.session
    tenant = _tenant(actor.tenant_id, session)
    was_active = None
    if 0 < len(name) <= 100 and not CONTROL.search(name):
        was_active = session.exec(
            select(ApiKey.active).where(ApiKey.tenant_id == tenant.id, ApiKey.name == name)
        ).first()
    if was_active is None:
        raise NotFoundError(f"chave {name[:100]!r}")
    key = revoke_api_key(tenant, session=session, name=name)
    if was_active:
        session.add(audit_entry(actor, "api_key.revoke", name=name, prefix=key.prefix))
    uow.commit()
    logger.info("console: API key revoked", extra={"action": "console.api_key_revoke", "key_name": name})
    return bool(was_active)
