from datetime import timedelta

import factory
from django.utils import timezone

from apps.events.models import Club, ClubJoinRequest, Event, EventStatus, JoinPolicy


class ClubFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Club

    name = factory.Sequence(lambda n: f"上海车友会 {n}")
    city = "上海"


class EventFactory(factory.django.DjangoModelFactory):
    """A published offline event, registration open now, starting in a week (``about_to_start``: in an hour, so its
    check-in is open)."""

    class Meta:
        model = Event

    class Params:
        about_to_start = factory.Trait(
            starts_at=factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1)),
            registration_closes_at=factory.SelfAttribute("starts_at"),
        )

    title = factory.Sequence(lambda n: f"Test-drive day {n}")
    kind = "offline"
    city = "上海"
    venue = "UserOps House, 静安"
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
    ends_at = factory.LazyAttribute(lambda e: e.starts_at + timedelta(hours=3))
    registration_opens_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    registration_closes_at = factory.LazyAttribute(lambda e: e.starts_at - timedelta(hours=1))
    cancellation_deadline = factory.LazyAttribute(lambda e: e.starts_at - timedelta(days=1))
    capacity = 10
    status = EventStatus.PUBLISHED


class ClubJoinRequestFactory(factory.django.DjangoModelFactory):
    """A pending request to join a club "by approval"."""

    class Meta:
        model = ClubJoinRequest

    club = factory.SubFactory(ClubFactory, join_policy=JoinPolicy.APPROVAL)
    member = factory.SubFactory("tests.members.factories.MemberFactory")
