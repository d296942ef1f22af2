"""The ``billing`` command: administration, queues, webhook endpoints, one sweeper tick, local development and
the connector.

Each group of sub-commands is a module of this package with a ``register(sub)`` function; ``GROUPS``
lists them, so the whole command is visible here. Bad arguments print one line to stderr and exit
with code 2, having written nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from billing.cli import admin, endpoints, inbound, listing, operators, ops, queues, run
from billing.cli.common import EXIT_USAGE, Handler, UsageError
from billing.errors import (
    BillingError,
    ConfigurationError,
    ConflictError,
    DatabaseUnavailableError,
    InvalidTransitionError,
    NotFoundError,
    ValidationFailedError,
)

# listing extends the groups admin and queues made
GROUPS = (admin, queues, inbound, ops, run, listing, endpoints, operators)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="billing", description="WhatsApp billing reminders: administration.")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


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
    # stdout is the command's answer (JSON a script can read); logs go to stderr.
    fmt = "text" if sys.stderr.isatty() else settings.log_format
    configure_logging(settings.log_level, fmt, to="stderr", force=True)
    handler: Handler = args.handler
    try:
        return handler(args)
    # The operator's own mistakes (exit 2), like the 4xx answers of the HTTP routes.
    except (UsageError, ValidationFailedError, NotFoundError, ConflictError, InvalidTransitionError) as exc:
        sys.stderr.write(f"billing: {exc}\n")
        return EXIT_USAGE
    except DatabaseUnavailableError as exc:
        sys.stderr.write(f"billing: {exc}: {_database_hint(settings.database_url)}\n")
        return 1
    except BillingError as exc:
        sys.stderr.write(f"billing: {exc}\n")
        return 1


def _database_hint(url: str) -> str:
    """Where we tried (never the password) and what to do about it."""
    from sqlalchemy.engine import make_url

    from billing.db.engine import sqlalchemy_url

    try:
        shown = make_url(sqlalchemy_url(url)).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: say so rather than echo it
        shown = "an unreadable DATABASE_URL"
    return (
        f"tried {shown}. Is PostgreSQL running there? Set DATABASE_URL to the right database "
        "(`make dev` prints the export line for its embedded one)."
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
