"""Saving message templates: sanitised, compiled, 1-5 weighted variations, optional JSON Schema."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from billing.db.models import Template, TemplateVariation, Tenant
from billing.domain.states import TemplateType
from billing.errors import ConflictError, NotFoundError, ValidationFailedError

MAX_VARIATIONS = 5


def add_template(
    tenant: Tenant,
    *,
    session: Session,
    template_type: TemplateType | str,
    name: str,
    bodies: Sequence[str],
    default: bool = False,
    weights: Sequence[int] | None = None,
    variables_schema: dict[str, Any] | None = None,
) -> Template:
    from billing.domain.sanitize import sanitize_template_body
    from billing.errors import TemplateError

    try:
        ttype = TemplateType(template_type)
    except ValueError as exc:
        raise ValidationFailedError(f"unknown template type {template_type!r}") from exc
    if not 1 <= len(bodies) <= MAX_VARIATIONS:
        raise ValidationFailedError(f"a template needs 1 to {MAX_VARIATIONS} bodies")
    if weights is not None and (len(weights) != len(bodies) or any(w < 1 for w in weights)):
        raise ValidationFailedError("weights must be positive and one per body")
    clean: list[str] = []
    for i, body in enumerate(bodies, start=1):
        try:
            clean.append(sanitize_template_body(body))
        except TemplateError as exc:
            raise ValidationFailedError(f"body {i}: {exc}") from exc
    if variables_schema is not None:
        _check_json_schema(variables_schema)
    for i, body in enumerate(clean, start=1):
        check_variables(body, variables_schema, label=f"body {i}")
    if session.exec(select(Template.id).where(Template.tenant_id == tenant.id, Template.name == name)).first():
        raise ConflictError(f"template {name!r} already exists for tenant {tenant.name!r}")
    if default:
        for other in session.exec(
            select(Template).where(
                Template.tenant_id == tenant.id, Template.template_type == ttype.value, col(Template.is_default)
            )
        ):
            other.is_default = False
            session.add(other)
        session.flush()
    template = Template(
        tenant_id=tenant.id, template_type=ttype.value, name=name, is_default=default, variables_schema=variables_schema
    )
    session.add(template)
    session.flush()
    for position, body in enumerate(clean, start=1):
        weight = weights[position - 1] if weights else 1
        session.add(
            TemplateVariation(tenant_id=tenant.id, template_id=template.id, position=position, body=body, weight=weight)
        )
    session.flush()
    return template


def _check_json_schema(schema: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValidationFailedError(f"invalid JSON Schema: {exc.message}") from exc


def check_variables(body: str, variables_schema: dict[str, Any] | None, *, label: str) -> None:
    """Refuse a body that uses a variable no contact can fill (a typo renders as empty text)."""
    from billing.domain.templates import compile_template
    from billing.domain.variables import undeclared_variables
    from billing.errors import TemplateError

    try:
        compiled = compile_template(body)
    except TemplateError as exc:
        raise ValidationFailedError(f"{label}: {exc}") from exc
    declared = None
    if variables_schema is not None:
        properties = variables_schema.get("properties")
        declared = frozenset(properties) if isinstance(properties, dict) else frozenset()
    problems = undeclared_variables(compiled.variables, declared)
    if problems:
        name, close = problems[0]
        hint = f" did you mean `{close}`?" if close else ""
        raise ValidationFailedError(
            f"{label}: unknown variable `{name}`:{hint} use a built-in name (README, Message variables) or "
            "declare it in the template's variables schema",
            [{"loc": ["body", label], "msg": f"unknown variable {n}"} for n, _ in problems],
        )


def _variation(tenant: Tenant, name: str, position: int, *, session: Session) -> tuple[Template, TemplateVariation]:
    template = session.exec(select(Template).where(Template.tenant_id == tenant.id, Template.name == name)).first()
    if template is None:
        raise NotFoundError(f"template {name!r} not found for tenant {tenant.name!r}")
    variation = session.exec(
        select(TemplateVariation).where(
            TemplateVariation.template_id == template.id, TemplateVariation.position == position
        )
    ).first()
    if variation is None:
        raise NotFoundError(f"template {name!r} has no variation {position}")
    return template, variation


def edit_variation(tenant: Tenant, *, session: Session, name: str, position: int, body: str) -> dict[str, Any]:
    """Change the wording of one variation, with the same checks as ``add_template``; returns the new
    body and a preview rendered on sample data. Messages already rendered keep their text."""
    from billing.domain.sanitize import sanitize_template_body
    from billing.errors import TemplateError

    template, variation = _variation(tenant, name, position, session=session)
    try:
        clean = sanitize_template_body(body)
    except TemplateError as exc:
        raise ValidationFailedError(f"body: {exc}") from exc
    check_variables(clean, template.variables_schema, label="body")
    variation.body = clean
    session.add(variation)
    session.flush()
    return {"template": name, "variation": position, "body": clean, "preview": preview(clean, tenant)}


def set_variation_enabled(
    tenant: Tenant, *, session: Session, name: str, position: int, enabled: bool
) -> dict[str, Any]:
    """Turn one variation off (new batches no longer use it) or back on; the last enabled variation of a
    template cannot be turned off."""
    template, variation = _variation(tenant, name, position, session=session)
    if not enabled and variation.active:
        others = session.exec(
            select(TemplateVariation.id).where(
                TemplateVariation.template_id == template.id,
                TemplateVariation.id != variation.id,
                col(TemplateVariation.active),
            )
        ).first()
        if others is None:
            raise ConflictError(f"variation {position} is the last enabled one of template {name!r}")
    variation.active = enabled
    session.add(variation)
    session.flush()
    return {"template": name, "variation": position, "enabled": enabled}


def preview(body: str, tenant: Tenant) -> str:
    """``body`` rendered on the README's sample values (company: the tenant's display name)."""
    from billing.domain.templates import compile_template
    from billing.domain.variables import VARIABLE_EXAMPLES

    context: dict[str, Any] = dict(VARIABLE_EXAMPLES)
    context.update(empresa=tenant.display_name, vence_hoje=False, variaveis={}, variables={})
    return compile_template(body).render(context)
