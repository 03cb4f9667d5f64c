"""The payload of the ``journey.step`` outbox event (docs/webhooks.md): one event per member per step run."""

from collections.abc import Iterator
from datetime import datetime

from apps.core.outbox import Event, EventType
from apps.journeys.models import Journey, JourneyStep


def step_events(
    journey: Journey, step: JourneyStep, rows: list[tuple[int, int, int]], outcomes: dict[int, str], ran_at: datetime
) -> Iterator[Event]:
    """``rows`` are the chunk's (enrolment id, member id, entry number)."""
    for enrolment_id, member_id, entry_number in rows:
        yield (
            EventType.JOURNEY_STEP,
            member_id,
            {
                "journey_id": journey.pk,
                "version": step.version.number,
                "enrolment_id": enrolment_id,
                "entry_number": entry_number,
                "member_id": member_id,
                "step": step.position,
                "step_kind": step.kind,
                "outcome": outcomes[enrolment_id],
                "ran_at": ran_at.isoformat(),
            },
        )
