"""The payload of the ``journey.step`` outbox event (docs/webhooks.md): one event per member per step run.

Two forms of the same payload: ``step_events`` builds it in Python (SQLite), ``step_events_sql`` in PostgreSQL, inside
the statement that records the chunk, so a large tick sends no payloads over the wire.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from apps.core.models import OutboxEvent
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


def step_events_sql(relation: str, journey_id: int, step: JourneyStep, ran_at: datetime) -> tuple[str, dict[str, Any]]:
    """An ``INSERT … SELECT`` of one ``journey.step`` event per row of ``relation`` (columns id, member_id,
    entry_number, outcome: the enrolments of a chunk), with its named parameters; the same payload as ``step_events``."""
    table = connection.ops.quote_name(OutboxEvent._meta.db_table)
    sql = (
        f"INSERT INTO {table} (event_id, type, member_id, occurred_at, payload, created_at)"  # noqa: S608 (our table and CTE)
        " SELECT gen_random_uuid(), %(event_type)s, r.member_id, %(ran_at)s,"
        " jsonb_build_object('journey_id', %(event_journey)s::bigint, 'version', %(event_version)s::integer,"
        " 'enrolment_id', r.id, 'entry_number', r.entry_number, 'member_id', r.member_id, 'step', %(event_position)s::integer,"
        " 'step_kind', %(event_step_kind)s::text, 'outcome', r.outcome, 'ran_at', %(ran_at_text)s::text),"
        f" %(created_at)s FROM {relation} AS r ORDER BY r.id"
    )
    params = {
        "event_type": str(EventType.JOURNEY_STEP),
        "event_journey": journey_id,
        "event_version": step.version.number,
        "event_position": step.position,
        "event_step_kind": step.kind,
        "ran_at_text": ran_at.isoformat(),
        "created_at": timezone.now(),
    }
    return sql, params
