"""How the console says things in Portuguese: statuses, reasons, times in the tenant's zone, numbers."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

QUEUE_STATUS = {
    "pending": "na fila",
    "scheduled": "agendada",
    "running": "enviando",
    "paused": "pausada",
    "paused_business_hours": "fora do horário",
    "instance_down": "número caído",
    "completed": "concluída",
    "cancelled": "cancelada",
    "failed": "falhou",
}
CONTACT_STATUS = {
    "pending": "aguardando",
    "sending": "enviando",
    "pending_retry": "nova tentativa",
    "sent": "enviada",
    "failed": "falhou",
    "cancelled": "cancelada",
    "expired": "expirada",
    "skipped": "ignorada",
    "unknown": "incerta",
}
TEMPLATE_TYPE = {"overdue": "vencidas", "upcoming": "a vencer", "notification": "avisos"}
HEALTH = {"open": "conectado", "connecting": "conectando", "close": "desconectado", "closed": "desconectado",
          "unknown": "sem verificação", "auth_failed": "chave recusada"}  # fmt: skip
WEEKDAYS = ("segunda", "terça", "quarta", "quinta", "sexta", "sábado", "domingo")
ACTIVE = ("pending", "scheduled", "running", "paused", "paused_business_hours", "instance_down")


def local(value: datetime | str | None, tz: str = "America/Sao_Paulo", fmt: str = "%d/%m %H:%M") -> str:
    if value is None or value == "":
        return "—"
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(ZoneInfo(tz)).strftime(fmt)


def queue_reason(status: str, reason: str | None, resume_at: datetime | None, scheduled_for: Any = None,
                 tz: str = "America/Sao_Paulo") -> str:  # fmt: skip
    """Why a queue is not sending, in words an operator at 2 a.m. can act on."""
    if status == "paused_business_hours":
        if reason and reason.startswith("daily_cap"):
            if resume_at is None:
                return "o número atingiu o limite diário de mensagens"
            when = resume_at.astimezone(ZoneInfo(tz))
            return f"o número atingiu o limite diário; volta às {when:%H:%M} de {WEEKDAYS[when.weekday()]}"
        if resume_at is None:
            return "fora do horário comercial"
        when = resume_at.astimezone(ZoneInfo(tz))
        return f"fora do horário comercial até {when:%H:%M} de {WEEKDAYS[when.weekday()]}"
    if status == "instance_down":
        if reason and "auth_failed" in reason:
            return "o gateway recusou a chave da instância: atualize a chave em Instâncias"
        return "o número de WhatsApp está desconectado; a fila volta sozinha quando ele reconectar"
    if status == "paused":
        if reason == "paused through the control API":
            return "pausada pelo ERP (API)"
        return "pausada por um operador"
    if status == "scheduled" and scheduled_for is not None:
        return f"agendada para {local(scheduled_for, tz)}"
    return ""


def number(value: Any) -> str:
    return f"{int(value or 0):,}".replace(",", ".")


def percent(part: Any, whole: Any) -> int:
    whole = int(whole or 0)
    return 100 if whole == 0 else min(100, int(100 * int(part or 0) / whole))


FILTERS = {
    "queue_status": lambda s: QUEUE_STATUS.get(s, s),
    "contact_status": lambda s: CONTACT_STATUS.get(s, s),
    "template_type": lambda s: TEMPLATE_TYPE.get(s, s),
    "health": lambda s: HEALTH.get(s or "unknown", s),
    "local": local,
    "number": number,
    # one path segment of a URL: a name with "/", "?" or "#" stays one segment (Jinja's urlencode keeps "/")
    "segment": lambda s: quote(str(s), safe=""),
}
GLOBALS = {
    "queue_reason": queue_reason,
    "percent": percent,
    "QUEUE_STATUS": QUEUE_STATUS,
    "CONTACT_STATUS": CONTACT_STATUS,
    "TEMPLATE_TYPE": TEMPLATE_TYPE,
    "WEEKDAYS": WEEKDAYS,
}
