"""The wire side of the queue routes: the control body in, the status body out.

The use cases (``billing.services.queues``) take a ``ControlCommand`` and answer a ``QueueStatusView``;
the ERP's documented shapes are ``ControlRequest`` and ``StatusResponse`` (``billing.http.schemas``).
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from billing.contract.queues import ContactPage, ControlCommand, QueueStatusView
from billing.errors import MalformedRequestError, ValidationFailedError
from billing.http.body import require_json
from billing.http.schemas import ContactsResponse, ControlRequest, StatusResponse

MAX_CONTROL_BODY = 4096


def parse_control_body(content_type: str | None, raw: bytes) -> ControlCommand:
    """The control command from a body already read within ``MAX_CONTROL_BODY``: 415 not JSON,
    400 unparsable, 422 not one of the actions."""
    require_json(content_type)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser allows
        raise MalformedRequestError("the body is not valid JSON", [{"loc": ["body"], "msg": "not JSON"}]) from exc
    try:
        request = ControlRequest.model_validate(data)
    except ValidationError as exc:
        errors: list[dict[str, object]] = [
            {"loc": ["body", *err["loc"]], "msg": err["msg"]} for err in exc.errors(include_url=False)
        ]
        raise ValidationFailedError('action must be one of "pause", "resume", "cancel"', errors) from exc
    return ControlCommand(action=request.action)


def status_json(view: QueueStatusView) -> str:
    """The documented status body of ``view`` (validated against the published schema)."""
    return StatusResponse.model_validate(view, from_attributes=True).model_dump_json()


def contacts_json(page: ContactPage) -> str:
    """The documented contacts page (validated against the published schema; timestamps in UTC, Z)."""
    return ContactsResponse.model_validate(page, from_attributes=True).model_dump_json()
