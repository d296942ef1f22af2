"""One exception tree for the whole package. Adapters translate driver errors into it."""

from __future__ import annotations


class BillingError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigurationError(BillingError):
    """The environment or a tenant's configuration is unusable."""


# --- domain -------------------------------------------------------------------------------------------


class DomainError(BillingError):
    """A rule of the domain refused an operation."""


class TemplateError(DomainError):
    """A template could not be compiled or rendered."""


class TemplateSyntaxError(TemplateError):
    """A template's text is not well formed; ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, *, line: int, column: int) -> None:
        super().__init__(f"{message} (line {line}, column {column})")
        self.reason = message
        self.line = line
        self.column = column


class TemplateRenderError(TemplateError):
    """Rendering failed (output over the size limit, unknown variable in strict mode)."""


class InvalidPhoneError(DomainError):
    """A phone number could not be normalised; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidTransitionError(DomainError):
    """A state machine refused a move."""

    def __init__(self, kind: str, current: str, target: str) -> None:
        super().__init__(f"cannot move {kind} from {current!r} to {target!r}")
        self.kind = kind
        self.current = current
        self.target = target


class BusinessHoursError(DomainError):
    """A business-hours schedule is unusable (for example: never open)."""


# --- application ---------------------------------------------------------------------------------------


class NotFoundError(BillingError):
    """An addressed object does not exist (or belongs to another tenant)."""


class ConflictError(BillingError):
    """The request conflicts with the current state (idempotency key reuse, impossible transition)."""


class AuthenticationError(BillingError):
    """Missing, unknown, revoked or expired credentials."""


class PermissionDeniedError(BillingError):
    """Valid credentials that may not do this (IP or template type not allowed)."""


class RateLimitedError(BillingError):
    """Over a rate limit; ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ValidationFailedError(BillingError):
    """Input failed validation; ``errors`` holds ``{"loc": [...], "msg": "..."}`` items."""

    def __init__(self, message: str, errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


# --- infrastructure --------------------------------------------------------------------------------------


class DependencyUnavailableError(BillingError):
    """A dependency (database, broker, gateway) cannot be reached right now."""


class DatabaseUnavailableError(DependencyUnavailableError):
    """PostgreSQL cannot be reached or refused the connection."""


class BrokerUnavailableError(DependencyUnavailableError):
    """RabbitMQ cannot be reached or did not confirm a publish."""


class GatewayError(BillingError):
    """The WhatsApp gateway answered in a way the client could not interpret."""


class InvalidValueError(DomainError):
    """A single value (URL, amount, variable) is not acceptable; the message says why."""


class UnknownVariableError(TemplateRenderError):
    """Strict rendering met variables the context does not define; ``names`` lists them."""

    def __init__(self, names: list[str]) -> None:
        super().__init__("unknown variable(s): " + ", ".join(names))
        self.names = names


class TemplateTooLongError(TemplateError):
    """A template could never render within the message size limit."""


class MalformedApiKeyError(ValidationFailedError):
    """A given API key is not of our ``bk_<prefix>_<secret>`` format. ``reason`` completes a sentence about
    where the key came from: a door may name its source (the CLI, the environment variable), never the key."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the given key {reason}")
        self.reason = reason


class MalformedRequestError(ValidationFailedError):
    """The request body cannot be parsed at all (400)."""


class PayloadTooLargeError(ValidationFailedError):
    """The body or the number of contacts is over the limit (413)."""


class UnsupportedMediaTypeError(ValidationFailedError):
    """The body is not JSON (415)."""
