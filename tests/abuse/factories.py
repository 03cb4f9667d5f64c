from datetime import datetime

import factory

from apps.abuse.models import Scope, VelocityLimit
from apps.analytics.models import ActivityEvent
from apps.core.activity import StoredActivity
from apps.core.awards import CandidateAward


class VelocityLimitFactory(factory.django.DjangoModelFactory):
    """Straight to the table: tests that go through the services use them instead (the cached screen config is
    cleared before every test by the conftest)."""

    class Meta:
        model = VelocityLimit

    name = factory.Sequence(lambda n: f"limit {n}")
    scope = Scope.DEVICE
    kind = "sign_in"
    max_events = 3
    window_minutes = 10


def candidate(event: ActivityEvent, *, points: int = 5, source: str = "rule:1") -> CandidateAward:
    """The candidate award a payer would build for a stored event."""
    activity = StoredActivity(
        pk=event.pk,
        member_id=event.member_id,
        kind=event.kind,
        event_id=event.event_id,
        source=event.source,
        occurred_at=event.occurred_at,
        amount=event.amount,
        first_of_kind=False,
        channel=event.channel,
        properties=event.properties,
        device_id=event.device_id,
        client_ip=event.client_ip,
    )
    return CandidateAward(member_id=event.member_id, activity=activity, source=source, points=points)


def events(member: object, at: list[datetime], **fields: object) -> list[ActivityEvent]:
    from tests.analytics.factories import ActivityEventFactory

    return [ActivityEventFactory(member=member, occurred_at=when, **fields) for when in at]
