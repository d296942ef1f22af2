"""The ingest use case's own rules, checked in memory: the batch, the window, replays, publishing."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from billing.contract.send import SEND_RESULT_FIELDS, SendEnvelope
from billing.domain.states import TemplateType
from billing.errors import ConflictError, ValidationFailedError
from billing.http.send_schemas import SendResponse
from billing.services.ingest import batch
from billing.services.ingest.publish import publish_created
from billing.services.ingest.render import render_candidates
from billing.services.ingest.store import StoredCampaign, TemplateChoice
from billing.services.ingest.validation import drop_suppressed, validate_contacts
from billing.testing import InMemoryBroker, RecordingUnitOfWork
from support.runtime import tenant_runtime

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TODAY = date(2026, 11, 30)
TEMPLATE = TemplateChoice(
    id=uuid.uuid4(),
    name="cobranca",
    variables_schema=None,
    variation_ids=(uuid.uuid4(), uuid.uuid4()),
    bodies=("Olá {{nome}}, a fatura {{fatura}} de {{valor}} venceu.", "{{nome}}, lembrete: {{valor}} em aberto."),
    weights=(1, 1),
)


def contact(phone: str, **fields: object) -> dict[str, object]:
    return {"phone": phone, "name": "Maria Silva", "due_date": "2026-11-20", "amount": "150.90", **fields}


def test_a_batch_is_validated_filtered_and_rendered_keeping_each_contacts_request_index() -> None:
    raw = [
        contact("+55 (11) 99999-8888", invoice_id="NF-1"),
        contact("abc"),
        contact("11 98888-7777", name="João"),
        contact("11 97777-6666", amount="-1"),
    ]
    candidates, rejections = validate_contacts(raw, template_type=TemplateType.OVERDUE, today=TODAY, region="BR")
    candidates, opted_out = drop_suppressed(candidates, {"+5511988887777"})
    rendered, failed = render_candidates(
        candidates, template=TEMPLATE, runtime=tenant_runtime(), today=TODAY, seed="s"
    )
    assert [r.index for r in rendered] == [0]
    assert rendered[0].contact.phone == "+5511999998888"
    assert "Maria Silva" in rendered[0].message and "R$" in rendered[0].message
    assert rendered[0].variation_id in TEMPLATE.variation_ids
    assert sorted(r.index for r in [*rejections, *opted_out, *failed]) == [1, 2, 3]


def test_the_same_request_always_picks_the_same_variations() -> None:
    raw = [contact(f"11 9{n:04d}-{n:04d}") for n in range(1000, 1010)]
    candidates, _ = validate_contacts(raw, template_type=TemplateType.OVERDUE, today=TODAY, region="BR")
    runtime = tenant_runtime()
    first, _ = render_candidates(candidates, template=TEMPLATE, runtime=runtime, today=TODAY, seed="abc")
    again, _ = render_candidates(candidates, template=TEMPLATE, runtime=runtime, today=TODAY, seed="abc")
    assert [r.variation_id for r in first] == [r.variation_id for r in again]
    assert len({r.variation_id for r in first}) == 2


def test_unknown_top_level_fields_are_refused_by_name() -> None:
    with pytest.raises(ValidationFailedError) as caught:
        batch.parse_envelope({"contacts": [{}], "priority": "high"})
    assert caught.value.errors == [{"loc": ["priority"], "msg": "unknown field 'priority'; see the OpenAPI document"}]
    assert isinstance(batch.parse_envelope({"contacts": [{}]}), SendEnvelope)


@pytest.mark.parametrize(
    ("scheduled", "valid_until", "field"),
    [
        (NOW + timedelta(days=400), None, "scheduled_for"),
        (None, NOW - timedelta(minutes=1), "valid_until"),
        (NOW + timedelta(days=2), NOW + timedelta(days=1), "valid_until"),
    ],
)
def test_an_unusable_sending_window_names_its_field(
    scheduled: datetime | None, valid_until: datetime | None, field: str
) -> None:
    with pytest.raises(ValidationFailedError) as caught:
        batch._check_window(scheduled, valid_until, NOW)
    assert caught.value.errors[0]["loc"] == [field]


def test_the_request_hash_ignores_key_order_but_not_the_type() -> None:
    one = batch.request_hash({"a": 1, "b": [1, 2]}, TemplateType.OVERDUE)
    assert one == batch.request_hash({"b": [1, 2], "a": 1}, TemplateType.OVERDUE)
    assert one != batch.request_hash({"a": 1, "b": [1, 2]}, TemplateType.UPCOMING)


def test_a_replay_answers_the_stored_body_in_the_documented_order_and_a_changed_body_conflicts() -> None:
    stored = StoredCampaign(
        idempotency_key="k-1",
        external_id="erp-1",
        request_hash="h",
        response={"status_url": "/s", "accepted": 1, "rejected": [{"errors": [], "phone": "x", "index": 0}]},
    )
    replay = batch._replay(stored, "h", "k-1")
    assert not replay.created and tuple(replay.body) == SEND_RESULT_FIELDS
    assert list(replay.body["rejected"][0]) == ["index", "phone", "errors"]
    with pytest.raises(ConflictError, match="Idempotency-Key"):
        batch._replay(stored, "other", "k-1")
    with pytest.raises(ConflictError, match="external_id 'erp-1'"):
        batch._replay(stored, "other", None)


def test_the_contracts_answer_fields_are_the_documented_ones() -> None:
    assert tuple(SendResponse.model_fields) == SEND_RESULT_FIELDS


def test_a_created_queue_is_published_to_its_types_queue_and_marked_published() -> None:
    broker, uow = InMemoryBroker(), RecordingUnitOfWork()
    tenant, queue_id = uuid.uuid4(), uuid.uuid4()
    publish_created(tenant, queue_id, TemplateType.OVERDUE, uow=uow, publisher=broker, now=NOW)  # type: ignore[arg-type]
    [published] = broker.published
    assert published.token.queue_id == str(queue_id) and published.priority == TemplateType.OVERDUE.priority
    assert uow.commits == 1 and uow.executed and uow.executed[0]["id"] == queue_id


@pytest.mark.parametrize("broker", [None, "down"])
def test_without_a_broker_the_queue_stays_unpublished_for_the_sweeper(broker: str | None) -> None:
    uow = RecordingUnitOfWork()
    publisher = None
    if broker == "down":
        publisher = InMemoryBroker()
        publisher.down = True
    publish_created(uuid.uuid4(), uuid.uuid4(), TemplateType.NOTIFICATION, uow=uow, publisher=publisher, now=NOW)  # type: ignore[arg-type]
    if broker is None:
        assert uow.executed == [] and uow.commits == 0
    else:  # marked before publishing (so the woken sender finds the row free), cleared when refused
        assert len(uow.executed) == 2 and uow.commits == 2
        assert "published_at = NULL" in str(uow.session.executed[1][0])
