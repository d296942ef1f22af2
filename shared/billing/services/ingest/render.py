"""Render every accepted contact at ingest, so a template error is caught before anything is queued.

Variations are chosen with a seed derived from the request, so a replayed or re-run batch assigns
the same texts; consecutive contacts never share a variation when the template has several.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from billing.domain.templates import CompiledTemplate, compile_template
from billing.domain.variables import ContactData, build_context
from billing.domain.variations import choose_variations
from billing.errors import DomainError, TemplateError, ValidationFailedError
from billing.services.ingest.store import TemplateChoice
from billing.services.ingest.validation import Candidate, Rejection
from billing.services.tenants import TenantRuntime


@dataclass(frozen=True, slots=True)
class Rendered:
    index: int
    contact: ContactData
    variation_id: uuid.UUID
    message: str


def compile_variations(template: TemplateChoice) -> list[CompiledTemplate]:
    """Compile (cached by text) each active variation; a broken stored template refuses the request."""
    compiled = []
    for position, body in enumerate(template.bodies, start=1):
        try:
            compiled.append(compile_template(body))
        except TemplateError as exc:
            raise ValidationFailedError(
                f"template {template.name!r} cannot be rendered: variation {position}: {exc}",
                [{"loc": ["template"], "msg": str(exc)}],
            ) from exc
    return compiled


def render_candidates(
    candidates: list[Candidate], *, template: TemplateChoice, runtime: TenantRuntime, today: date, seed: str
) -> tuple[list[Rendered], list[Rejection]]:
    """Render each candidate with its chosen variation; a contact whose text cannot be built is rejected."""
    compiled = compile_variations(template)
    picks = choose_variations(template.weights, len(candidates), seed=seed)
    company = runtime.company
    locale = runtime.config.locale
    rendered: list[Rendered] = []
    rejected: list[Rejection] = []
    for candidate, pick in zip(candidates, picks, strict=True):
        contact = candidate.contact
        try:
            context = build_context(contact, today=today, company=company, locale=locale)
            message = compiled[pick].render(context)
        except DomainError as exc:
            rejected.append(Rejection(candidate.index, contact.phone, [("message", str(exc))]))
            continue
        if not message.strip():
            rejected.append(Rejection(candidate.index, contact.phone, [("message", "the rendered message is empty")]))
            continue
        rendered.append(Rendered(candidate.index, contact, template.variation_ids[pick], message))
    return rendered, rejected
