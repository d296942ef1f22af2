"""What every ``billing`` sub-command shares: argument types, JSON output, one transaction."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date, time
from typing import Any

EXIT_USAGE = 2
Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A one-line complaint about the command's arguments."""


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
