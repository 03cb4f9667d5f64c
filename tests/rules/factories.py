from datetime import datetime
from decimal import Decimal
from typing import Any

import factory
from django.utils import timezone

from apps.analytics.models import ActivityEvent
from apps.analytics.services import activity_ingest_batch
from apps.core.activity import StoredActivity
from apps.rules.models import EarningRule, RuleStatus
from apps.rules.services import rules_changed


class EarningRuleFactory(factory.django.DjangoModelFactory):
    """An active rule (the rules cache is told, as the services do)."""

    class Meta:
        model = EarningRule
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Rule {n}")
    kind = "sign_in"
    status = RuleStatus.ACTIVE
    points = 10

    @factory.post_generation
    def changed(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        rules_changed()


def ingest(client: Any, *events: dict[str, Any]) -> dict[str, Any]:
    """Send events through the ingest service (as the API does); its answer as a dict."""
    return activity_ingest_batch(items=list(events), client=client).as_dict()


def event(member: Any, kind: str = "sign_in", at: datetime | None = None, **fields: Any) -> dict[str, Any]:
    event.counter = getattr(event, "counter", 0) + 1
    return {
        "event_id": fields.pop("event_id", f"ev-{event.counter}-{timezone.now().timestamp()}"),
        "member_id": member.pk,
        "kind": kind,
        "occurred_at": (at or timezone.now()).isoformat(),
        **fields,
    }


def stored(row: ActivityEvent, *, first_of_kind: bool = True) -> StoredActivity:
    return StoredActivity(
        pk=row.pk,
        member_id=row.member_id,
        kind=row.kind,
        event_id=row.event_id,
        source=row.source,
        occurred_at=row.occurred_at,
        amount=row.amount if row.amount is None else Decimal(row.amount),
        first_of_kind=first_of_kind,
        channel=row.channel,
        properties=row.properties,
    )
