"""JSON logging for entry points and the CLI, with phone masking and secret scrubbing.

Library modules only ever call ``logging.getLogger(__name__)``; ``configure_logging`` is called by the
function entry points and the CLI, once.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys() | {"message", "asctime"}
)
_SECRET_KEYS = frozenset({"api_key", "apikey", "password", "secret", "token", "authorization", "key"})
# Runs of 8+ digits (optionally led by +) look like phone numbers: keep the first 4 and last 2 digits.
_PHONE_RE = re.compile(r"(?<![0-9A-Za-z-])\+?\d{8,15}(?![0-9A-Za-z-])")
# Phones as people format them: "(11) 99999-8888", "+55 11 99999 8888", "+55 (11) 9 9999-8888".
_FORMATTED_PHONE_RE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?\(?\d{2}\)?[ .-]?(?:9[ .-]?)?\d{4}[ .-]?\d{4}(?!\w)"
)


def mask_phone(phone: str | None) -> str:
    """``+5511999998888`` -> ``+5511*******88``; safe to log under LGPD."""
    if not phone:
        return ""
    digits = phone.lstrip("+")
    prefix = "+" if phone.startswith("+") else ""
    if len(digits) <= 6:
        return prefix + "*" * len(digits)
    return prefix + digits[:4] + "*" * (len(digits) - 6) + digits[-2:]


def _mask_formatted(match: re.Match[str]) -> str:
    typed = match.group(0)
    return mask_phone(("+" if typed.startswith("+") else "") + re.sub(r"\D", "", typed))


def scrub_text(text: str) -> str:
    """Mask anything that looks like a phone number inside free text, formatted or not."""
    if any(ch in text for ch in " ()-."):
        text = _FORMATTED_PHONE_RE.sub(_mask_formatted, text)
    return _PHONE_RE.sub(lambda m: mask_phone(m.group(0)), text)


def _scrub_value(key: str, value: Any) -> Any:
    if key.lower() in _SECRET_KEYS:
        return "***"
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: _scrub_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub_value(key, v) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return scrub_text(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub_text(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = _scrub_value(key, value)
        if record.exc_info:
            payload["exc"] = scrub_text(self.formatException(record.exc_info))
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-friendly lines for ``billing dev``; still masks phones."""

    def format(self, record: logging.LogRecord) -> str:
        extras = {
            k: _scrub_value(k, v)
            for k, v in record.__dict__.items()
            if k not in _STANDARD_ATTRS and not k.startswith("_")
        }
        tail = " ".join(f"{k}={v}" for k, v in extras.items())
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        return f"{stamp} {record.levelname:<7} {record.name}: {scrub_text(record.getMessage())} {tail}".rstrip()


_configured = False


class _StdStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` or ``sys.stderr`` is at the time of each record."""

    def __init__(self, name: str) -> None:
        self._stream_name = name
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return getattr(sys, self._stream_name)

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure_logging(level: str = "INFO", fmt: str = "json", *, to: str = "stdout", force: bool = False) -> None:
    """Install one handler on the root logger, writing to stdout (functions: the platform collects it)
    or stderr (the CLI, whose stdout is its answer). Safe to call more than once: later calls only set
    the level, unless ``force`` (an entry point that owns the process, such as the CLI)."""
    global _configured
    root = logging.getLogger()
    if _configured and not force:
        root.setLevel(level)
        return
    handler = _StdStreamHandler(to)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("pika", "aiormq", "aio_pika", "httpx", "httpcore", "werkzeug", "alembic.runtime.plugins", "pgserver"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    _configured = True
