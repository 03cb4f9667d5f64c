from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import factory
from django.utils import timezone

from apps.analytics.models import ActivityEvent, ActivityKind
from tests.members.factories import MemberFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    """An aware datetime given in Asia/Shanghai wall-clock time."""
    return datetime(*args, tzinfo=SHANGHAI)


class ActivityEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ActivityEvent

    member = factory.SubFactory(MemberFactory)
    kind = ActivityKind.APP_OPEN
    occurred_at = factory.LazyFunction(timezone.now)
    recorded_at = factory.LazyFunction(timezone.now)
    source = "test"
    event_id = factory.Sequence(lambda n: f"evt-{n}")


def purchase(member: object, at: datetime, amount: str, **kwargs: object) -> ActivityEvent:
    return ActivityEventFactory(member=member, kind=ActivityKind.PURCHASE, occurred_at=at, amount=Decimal(amount), **kwargs)


def survey(member: object, at: datetime, score: int, **kwargs: object) -> ActivityEvent:
    return ActivityEventFactory(member=member, kind=ActivityKind.SURVEY, occurred_at=at, nps_score=score, **kwargs)
