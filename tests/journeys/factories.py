from typing import Any

import factory

from apps.journeys import services
from apps.journeys.models import EntryKind, Journey
from apps.journeys.steps import StepSpec
from tests.campaigns.factories import SegmentFactory


class JourneyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Journey

    name = factory.Sequence(lambda n: f"Journey {n}")
    entry_kind = EntryKind.SEGMENT
    entry_segment = factory.SubFactory(SegmentFactory)


def running_journey(steps: list[StepSpec], **fields: Any) -> Journey:
    """A journey with these steps, started through the services (as the journey page does)."""
    journey = JourneyFactory(**fields)
    services.journey_steps_save(journey=journey, steps=steps)
    return services.journey_start(journey=journey)


def wait(days: int = 0, hours: int = 0) -> StepSpec:
    return StepSpec("wait", {"days": days, "hours": hours})


def branch(condition: str, value: Any, yes_next: int | None = None, no_next: int | None = None) -> StepSpec:
    return StepSpec("branch", {"condition": condition, "value": value}, yes_next=yes_next, no_next=no_next)
