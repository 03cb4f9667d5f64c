"""``journey.step`` events: one per member step, written in the chunk's transaction."""

import pytest

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
    advance = services._advance

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(services, "_advance", crash)
    with pytest.raises(RuntimeError):
        services.journey_tick(journey_id=journey.pk)
    assert not OutboxEvent.objects.filter(type="journey.step").exists()

    monkeypatch.setattr(services, "_advance", advance)
    services.journey_tick(journey_id=journey.pk)
    events = OutboxEvent.objects.filter(type="journey.step").order_by("pk")
    assert events.count() == 6
    payload = events[0].payload
    assert payload["journey_id"] == journey.pk and payload["step"] == 1 and payload["outcome"] == "done"
    assert {event.member_id for event in events} == {member.pk for member in members}
