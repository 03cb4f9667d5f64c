import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import factory

from apps.benefits.models import BenefitCategory, BenefitKind
from apps.core.activity import StoredActivity
from apps.engagement.models import Task, TaskGoal, TaskWindow
from apps.engagement.services import tasks_changed
from tests.benefits.factories import BenefitFactory

_pks = itertools.count(1_000_000)


class BadgeFactory(BenefitFactory):
    name = factory.Sequence(lambda n: f"社区之星 {n}")
    kind = BenefitKind.BADGE
    category = BenefitCategory.STATUS
    face_value = 0
    unit_cost = 0
    validity_days = None


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"task-{n}")
    title = factory.Sequence(lambda n: f"Attend events {n}")
    goal = TaskGoal.COUNT
    activity_kind = "event_attendance"
    target = 3
    window = TaskWindow.NONE
    reward_points = 100

    @factory.post_generation
    def changed(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        # Written past the services, as a task saved by staff would be announced: every process counts its kind.
        if create:
            tasks_changed()


def local(year: int, month: int, day: int, hour: int = 12) -> datetime:
    """Noon (by default) of a day in Asia/Shanghai, as UTC."""
    return datetime(year, month, day, hour, tzinfo=UTC) - timedelta(hours=8)


def activity(member, kind: str = "event_attendance", at: datetime | None = None, **fields) -> StoredActivity:
    pk = next(_pks)
    return StoredActivity(
        pk=pk,
        member_id=member.pk,
        kind=kind,
        event_id=f"e-{pk}",
        source="test",
        occurred_at=at or local(2026, 12, 1),
        amount=None,
        first_of_kind=False,
        **fields,
    )
