"""What every ``billing`` sub-command shares: argument types, JSON output, one transaction."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import date, time
from typing import Any

EXIT_USAGE = 2
Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A one-line complaint about the command's arguments."""


PLACEHOLDER = "CHANGE-ME"  # what the example Secrets hold until someone fills them in


def secret_from_env(variable: str) -> str:
    """The value of the environment variable an option names (``--key-from-env VAR``).

    A Job gets its secrets from a Kubernetes Secret as environment variables; naming the variable keeps
    the value out of the command line, the pod spec and the shell history. These are the command's
    arguments, not settings, so they are read here rather than by ``billing.config``. The value is never
    repeated in an error."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise UsageError(f"{variable} is not set or empty")
    if PLACEHOLDER.lower() in value.lower().replace("_", "-"):  # the same test as the settings'
        raise UsageError(f"{variable} still holds the example's {PLACEHOLDER} placeholder")
    return value


def emit(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def csv_list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


def iso_time(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a time (HH:MM): {value!r}") from exc


def positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from exc
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be positive: {value!r}")
    return number


def in_session(work: Callable[[Any], Any]) -> Any:
    """Run ``work(session)`` in one committed transaction."""
    from billing.db.engine import unit_of_work

    with unit_of_work() as uow:
        result = work(uow.session)
        uow.commit()
    return result


def _cell(value: Any, width: int = 60) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        text = ",".join(str(v) for v in value) or "-"
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    text = " ".join(text.split())  # one line per row
    return text if len(text) <= width else text[: width - 1] + "…"


def emit_rows(rows: list[dict[str, Any]], columns: list[str], *, as_json: bool) -> None:
    """Rows as an aligned table (``columns`` in order), or every field as JSON with ``as_json``."""
    if as_json:
        emit(rows)
        return
    table = [columns, *([_cell(row.get(column)) for column in columns] for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        sys.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() + "\n")
    if not rows:
        sys.stdout.write("(none)\n")
