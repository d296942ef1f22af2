"""The ``billing`` command: administration, one sweeper tick, local development and the connector.

Bad arguments print one line to stderr and exit with code 2, having written nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date, time
from typing import Any

from billing.errors import BillingError, ConfigurationError, ConflictError, NotFoundError, ValidationFailedError

logger = logging.getLogger(__name__)

EXIT_USAGE = 2
Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A one-line complaint about the command's arguments."""


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


def _time(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a time (HH:MM): {value!r}") from exc


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from exc
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be positive: {value!r}")
    return number


def _in_session(work: Callable[[Any], Any]) -> Any:
    """Run ``work(session)`` in one committed transaction."""
    from billing.db.engine import unit_of_work

    with unit_of_work() as uow:
        result = work(uow.session)
        uow.commit()
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="billing", description="WhatsApp billing reminders: administration.")
    sub = parser.add_subparsers(dest="command", required=True)
    _load_extensions()
    for extend in EXTENSIONS:
        extend(sub)
    return parser


# Each group of sub-commands registers itself from its own module (cli_admin, cli_run, ...).
EXTENSIONS: list[Callable[[Any], None]] = []
EXTENSION_MODULES = ("billing.cli_admin", "billing.cli_run", "billing.cli_ops", "billing.cli_inbound")


def _load_extensions() -> None:
    import importlib
    import importlib.util

    for name in EXTENSION_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


def main(argv: Sequence[str] | None = None) -> int:
    from billing.config import get_settings
    from billing.logs import configure_logging

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ConfigurationError as exc:
        sys.stderr.write(f"billing: {exc}\n")
        return EXIT_USAGE
    configure_logging(settings.log_level, "text" if sys.stderr.isatty() else settings.log_format)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (UsageError, ValidationFailedError, NotFoundError, ConflictError) as exc:
        sys.stderr.write(f"billing: {exc}\n")
        return EXIT_USAGE
    except BillingError as exc:
        sys.stderr.write(f"billing: {exc}\n")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
