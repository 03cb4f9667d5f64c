from datetime import date, datetime
from typing import Any

import factory
from django.utils import timezone

from apps.analytics.models import DailyMemberActivity
from apps.analytics.services import activity_ingest_batch
from apps.core.models import ApiClient
from apps.lifecycle.models import JourneyStage, LifecycleStage, MemberStage, StageChange, StageDimension
from tests.members.factories import MemberFactory


class MemberStageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MemberStage

    member = factory.SubFactory(MemberFactory)
    journey_stage = JourneyStage.PROSPECT
    lifecycle_stage = LifecycleStage.NEW


class StageChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StageChange

    member = factory.SubFactory(MemberFactory)
    dimension = StageDimension.JOURNEY
    from_stage = JourneyStage.PROSPECT
    to_stage = JourneyStage.INTENT
    reason = "lead_created"


def journey_event(member: Any, kind: str, at: datetime | None = None, dealer: str = "SH001", **fields: Any) -> dict[str, Any]:
    """One item as a dealer system sends it to the ingest."""
    journey_event.counter = getattr(journey_event, "counter", 0) + 1
    return {
        "event_id": fields.pop("event_id", f"journey-{journey_event.counter}-{timezone.now().timestamp()}"),
        "member_id": member.pk,
        "kind": kind,
        "occurred_at": (at or timezone.now()).isoformat(),
        "channel": fields.pop("channel", "dealer"),
        "properties": {"dealer": dealer, **fields.pop("properties", {})},
        **fields,
    }


def ingest(client: ApiClient, *items: dict[str, Any]) -> dict[str, Any]:
    answer = activity_ingest_batch(items=list(items), client=client).as_dict()
    assert answer["rejected"] == 0, answer
    return answer


def active_on(member: Any, day: date, *, events: int = 1, purchases: int = 0) -> DailyMemberActivity:
    """What the daily roll-up holds for a member who did something on ``day`` (a local day)."""
    return DailyMemberActivity.objects.create(day=day, member=member, tier_id=member.tier_id, events=events, purchases=purchases)
