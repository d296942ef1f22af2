"""What the console's template pages read and do.

``templates_page``: every template of the tenant by type with its variations (two statements whatever
the number of templates). ``variation_for_edit`` / ``preview_body``: one variation and the preview of a
body on the README's sample values, rendered by the real engine (the same preview as ``billing template
edit``). ``save_variation`` and ``enable_variation`` go through the admin use cases (the same checks as
the CLI) and write their audit entry in the same transaction. Messages are in Portuguese: the console's
operators read them.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from billing.contract.queues import Actor
from billing.db.engine import UnitOfWork
from billing.db.models import Template, Tenant
from billing.errors import (
    ConflictError,
    NotFoundError,
    TemplateError,
    TemplateSyntaxError,
    TemplateTooLongError,
    ValidationFailedError,
)
from billing.services.admin.listing import list_templates
from billing.services.admin.templates import check_variables, edit_variation, preview, set_variation_enabled
from billing.services.audit import audit_entry

logger = logging.getLogger(__name__)

TYPES = ("overdue", "upcoming", "notification")
MAX_NAME = 100  # templates.name
FIRST_LINE = 90
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # what no message holds (newline and tab are text)


@dataclass(frozen=True)
class VariationRow:
    position: int
    weight: int
    enabled: bool
    first_line: str


@dataclass(frozen=True)
class TemplateEntry:
    name: str
    template_type: str
    default: bool
    variations: list[VariationRow]


@dataclass(frozen=True)
class TemplatesPage:
    by_type: list[tuple[str, list[TemplateEntry]]]  # every type, in TYPES order, even without templates


@dataclass(frozen=True)
class Preview:
    """A body rendered on sample values, or why it cannot be saved."""

    text: str | None
    error: str | None


@dataclass(frozen=True)
class VariationEdit:
    name: str
    template_type: str
    default: bool
    position: int
    weight: int
    enabled: bool
    enabled_count: int  # enabled variations of the template (the last one cannot be turned off)
    body: str
    preview: Preview
    variables: list[str]  # what a body may use: built-in names, then the template's declared ones


def _tenant(tenant_id: uuid.UUID, session: Session) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFoundError("tenant")
    return tenant


def _first_line(body: str) -> str:
    line = next((part.strip() for part in body.splitlines() if part.strip()), "")
    return line if len(line) <= FIRST_LINE else line[: FIRST_LINE - 1] + "…"


def templates_page(*, tenant_id: uuid.UUID, session: Session) -> TemplatesPage:
    tenant = _tenant(tenant_id, session)
    groups: dict[str, list[TemplateEntry]] = {t: [] for t in TYPES}
    for row in list_templates(tenant, session=session):
        variations = [
            VariationRow(v["variation"], v["weight"], v["enabled"], _first_line(v["body"])) for v in row["variations"]
        ]
        groups.setdefault(row["type"], []).append(TemplateEntry(row["name"], row["type"], row["default"], variations))
    for entries in groups.values():
        entries.sort(key=lambda e: (not e.default, e.name))
    return TemplatesPage(list(groups.items()))


def _invalid(message: str) -> ValidationFailedError:
    return ValidationFailedError(message, [{"loc": ["body"], "msg": message}])


def _declared(schema: dict[str, Any] | None) -> frozenset[str] | None:
    """The variable names a template's JSON Schema declares (None: it has no schema), as
    ``check_variables`` reads them."""
    if schema is None:
        return None
    properties = schema.get("properties")
    return frozenset(properties) if isinstance(properties, dict) else frozenset()


def checked_body(body: str, schema: dict[str, Any] | None) -> str:
    """``body`` cleaned and checked by the rules of ``billing template edit`` (syntax, length, unknown
    variables with the closest known name); a ValidationFailedError in Portuguese otherwise."""
    from billing.domain.sanitize import MAX_TEMPLATE_CHARS, sanitize_template_body
    from billing.domain.templates import MAX_MESSAGE_CHARS, compile_template
    from billing.domain.variables import undeclared_variables

    body = body.replace("\r\n", "\n").replace("\r", "\n")
    if len(body) > MAX_TEMPLATE_CHARS:
        raise _invalid(f"o texto tem {len(body)} caracteres; o limite é {MAX_TEMPLATE_CHARS}")
    if not body.strip():
        raise _invalid("o texto da mensagem não pode ficar vazio")
    if CONTROL.search(body):
        raise _invalid("o texto tem caracteres de controle invisíveis: apague-os e digite de novo")
    try:
        clean = sanitize_template_body(body)
    except TemplateSyntaxError as exc:
        raise _invalid(f"erro de sintaxe na linha {exc.line}, coluna {exc.column}: {exc.reason}") from None
    except TemplateTooLongError:
        raise _invalid(f"o texto fixo do modelo já passa de {MAX_MESSAGE_CHARS} caracteres (uma mensagem)") from None
    except TemplateError as exc:
        raise _invalid(f"modelo inválido: {exc}") from None
    if not clean.strip():
        raise _invalid("o texto da mensagem não pode ficar vazio")
    problems = undeclared_variables(compile_template(clean).variables, _declared(schema))
    if problems:
        name, close = problems[0]
        hint = f" Você quis dizer {{{{{close}}}}}?" if close else ""
        raise _invalid(
            f"variável desconhecida {{{{{name}}}}}.{hint} Use uma das variáveis da lista ou declare-a no "
            "esquema de variáveis do modelo."
        )
    try:  # the admin's own check has the last word (the rules cannot drift apart)
        check_variables(clean, schema, label="body")
    except ValidationFailedError as exc:
        raise _invalid(str(exc)) from None
    return clean


def _usable(name: str) -> bool:
    """Whether ``name`` could be a template's name (anything else is simply not found, unqueried)."""
    return 0 < len(name) <= MAX_NAME and CONTROL.search(name) is None


def _template(tenant: Tenant, name: str, *, session: Session) -> Template:
    template = None
    if _usable(name):
        template = session.exec(select(Template).where(Template.tenant_id == tenant.id, Template.name == name)).first()
    if template is None:
        raise NotFoundError(f"modelo {name[:MAX_NAME]!r}")
    return template


def _preview(body: str, schema: dict[str, Any] | None, tenant: Tenant) -> Preview:
    try:
        clean = checked_body(body, schema)
        return Preview(preview(clean, tenant), None)
    except ValidationFailedError as exc:
        return Preview(None, str(exc))
    except TemplateError as exc:  # rendering the sample went over a message's size
        return Preview(None, f"a prévia não pôde ser gerada: {exc}")


def _variables(schema: dict[str, Any] | None) -> list[str]:
    from billing.domain.variables import VARIABLE_EXAMPLES

    builtin = [name for name in VARIABLE_EXAMPLES if name not in ("variaveis", "variables")]
    declared = sorted(_declared(schema) or ())
    return builtin + [name for name in declared if name not in builtin]


def variation_for_edit(
    name: str, position: int, *, tenant_id: uuid.UUID, session: Session, body: str | None = None
) -> VariationEdit:
    """One variation for its edit form, with the preview of ``body`` (the typed text; the stored one
    when None)."""
    tenant = _tenant(tenant_id, session)
    found = list_templates(tenant, session=session, name=name) if _usable(name) else []
    if not found:
        raise NotFoundError(f"modelo {name[:MAX_NAME]!r}")
    template = found[0]
    variation = next((v for v in template["variations"] if v["variation"] == position), None)
    if variation is None:
        raise NotFoundError(f"variação {position} do modelo {name!r}")
    schema = template["variables_schema"]
    text = variation["body"] if body is None else body
    return VariationEdit(
        name=template["name"],
        template_type=template["type"],
        default=template["default"],
        position=position,
        weight=variation["weight"],
        enabled=variation["enabled"],
        enabled_count=sum(1 for v in template["variations"] if v["enabled"]),
        body=text,
        preview=_preview(text, schema, tenant),
        variables=_variables(schema),
    )


def preview_body(name: str, body: str, *, tenant_id: uuid.UUID, session: Session) -> Preview:
    """``body`` rendered on sample values as template ``name`` would render it (its declared variables
    count), or why it would be refused."""
    tenant = _tenant(tenant_id, session)
    try:
        template = _template(tenant, name, session=session)
    except NotFoundError:
        return Preview(None, "modelo não encontrado: recarregue a página")
    return _preview(body, template.variables_schema, tenant)


def save_variation(name: str, position: int, body: str, *, actor: Actor, uow: UnitOfWork) -> dict[str, Any]:
    """Save one variation's new text (``billing template edit``) with its audit entry, committed.
    A refused text raises ValidationFailedError in Portuguese and changes nothing."""
    session = uow.session
    tenant = _tenant(actor.tenant_id, session)
    template = _template(tenant, name, session=session)
    clean = checked_body(body, template.variables_schema)
    saved = edit_variation(tenant, session=session, name=template.name, position=position, body=clean)
    session.add(audit_entry(actor, "template.edit", template=template.name, variation=position, chars=len(clean)))
    uow.commit()
    logger.info(
        "console: template variation saved",
        extra={"action": "console.template_edit", "template": template.name, "variation": position},
    )
    return saved


def enable_variation(name: str, position: int, enabled: bool, *, actor: Actor, uow: UnitOfWork) -> dict[str, Any]:
    """Turn one variation on or off (``billing template enable|disable``) with its audit entry."""
    session = uow.session
    tenant = _tenant(actor.tenant_id, session)
    template = _template(tenant, name, session=session)
    try:
        changed = set_variation_enabled(tenant, session=session, name=template.name, position=position, enabled=enabled)
    except ConflictError:
        raise ConflictError(
            f"a variação {position} é a única ativa do modelo {template.name!r}: ative outra antes de desativar esta"
        ) from None
    except NotFoundError:
        raise NotFoundError(f"variação {position} do modelo {template.name!r}") from None
    action = "template.enable" if enabled else "template.disable"
    session.add(audit_entry(actor, action, template=template.name, variation=position))
    uow.commit()
    logger.info(
        "console: template variation %s",
        "enabled" if enabled else "disabled",
        extra={"action": f"console.{action.replace('.', '_')}", "template": template.name, "variation": position},
    )
    return changed


def parse_position(raw: str) -> int:
    """A variation's position from the path (1-5); anything else is simply not found."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 2 or not 1 <= int(raw) <= 5:
        raise NotFoundError(f"variação {raw[:10]!r}")
    return int(raw)


def parse_enabled(raw: str | None) -> bool:
    if raw in ("1", "true", "on"):
        return True
    if raw in ("0", "false", "off"):
        return False
    raise ValidationFailedError("enabled deve ser 1 (ativar) ou 0 (desativar)")
