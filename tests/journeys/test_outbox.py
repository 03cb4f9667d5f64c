"""``journey.step`` events: one per member step, written in the chunk's transaction."""

import pytest
from django.utils import timezone

from apps.core.models import OutboxEvent
from apps.journeys import services
from apps.journeys.steps import StepSpec
from tests.campaigns.factories import SegmentFactory
from tests.journeys.factories import running_journey
from tests.members.factories import MemberFactory, TagFactory
from tests.webhooks.factories import WebhookEndpointFactory

pytestmark = pytest.mark.django_db


def test_each_member_step_is_one_event_and_a_crashed_chunk_leaves_none(monkeypatch):
    WebhookEndpointFactory()
    tag = TagFactory(name="lead")
    members = MemberFactory.create_batch(3)
    for member in members:
        member.tags.add(tag)
    segment = SegmentFactory(rules={"op": "and", "conditions": [{"field": "tags", "value": ["lead"]}]})
    journey = running_journey([StepSpec("tag", {"tag": "a"}), StepSpec("tag", {"tag": "b"})], entry_segment=segment)
    record = services._record

    def crash(*args, **kwargs):
        record(*args, **kwargs)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(services, "_record", crash)
    with pytest.raises(RuntimeError):
        services.journey_tick(journey_id=journey.pk)
    assert not OutboxEvent.objects.filter(type="journey.step").exists()

    monkeypatch.setattr(services, "_record", record)
    services.journey_tick(journey_id=journey.pk)
    events = OutboxEvent.objects.filter(type="journey.step").order_by("pk")
    assert events.count() == 6
    payload = events[0].payload
    assert payload["journey_id"] == journey.pk and payload["step"] == 1 and payload["outcome"] == "done"
    assert {event.member_id for event in events} == {member.pk for member in members}


def test_an_ended_wait_builds_its_events_with_the_same_payload_as_an_action_step():
    WebhookEndpointFactory()
    tag = TagFactory(name="lead")
    members = MemberFactory.create_batch(2)
    for member in members:
        member.tags.add(tag)
    segment = SegmentFactory(rules={"op": "and", "conditions": [{"field": "tags", "value": ["lead"]}]})
    journey = running_journey([StepSpec("wait", {"hours": 1}), StepSpec("wait", {"days": 1})], entry_segment=segment)
    services.journey_enter(journey_id=journey.pk)
    journey.enrolments.update(due_at=journey.started_at)
    now = timezone.now()

    assert services.journey_tick(journey_id=journey.pk, now=now).processed == 2

    enrolments = {enrolment.member_id: enrolment for enrolment in journey.enrolments.all()}
    events = OutboxEvent.objects.filter(type="journey.step").order_by("pk")
    assert [event.payload for event in events] == [
        {
            "journey_id": journey.pk,
            "version": 1,
            "enrolment_id": enrolments[member.pk].pk,
            "entry_number": 1,
            "member_id": member.pk,
            "step": 1,
            "step_kind": "wait",
            "outcome": "passed",
            "ran_at": now.isoformat(),
        }
        for member in sorted(members, key=lambda member: enrolments[member.pk].pk)
    ]
    assert [event.member_id for event in events] == [payload["member_id"] for payload in (event.payload for event in events)]
    assert all(event.occurred_at == now for event in events)
    assert {enrolment.step.position for enrolment in enrolments.values()} == {2}
