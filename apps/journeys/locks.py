"""The one place journeys and enrolments are locked, first in the product's lock order (docs/architecture.md).

A journey sits where a campaign does: before its enrolments (a run's rows), which come before the benefit a step
grants and the members' points accounts. A status change takes the journey FOR NO KEY UPDATE; a step chunk holds
it FOR SHARE while it works, so a pause or a stop waits for the chunk in flight and the next chunk sees it.
"""

from django.db import connection

from apps.journeys.models import Enrolment, EnrolmentState, Journey


def lock_journey(*, journey_id: int) -> Journey:
    return Journey.objects.select_for_update(no_key=True).get(pk=journey_id)


def share_journey_status(*, journey_id: int) -> str | None:
    """The journey's status, held FOR SHARE until the transaction ends (None: the journey is gone).

    SQLite has one writer at a time, so a status change cannot overtake a chunk there: a plain read does."""
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT status FROM journeys_journey WHERE id = %s{lock}", [journey_id])  # noqa: S608 (our SQL)
        row = cursor.fetchone()
    return row[0] if row else None


def claim_due_enrolments(*, journey_id: int, step_id: int, due_by: object, limit: int) -> list[tuple[int, int, int]]:
    """Up to ``limit`` active enrolments due at a step, earliest due first, as (id, member id, entry number), locked; rows another
    worker holds are skipped, so two ticks share the work instead of waiting for or repeating it (SQLite, with its
    single writer, has no row locks: Django leaves the clause out there)."""
    return list(
        Enrolment.objects.filter(journey_id=journey_id, step_id=step_id, state=EnrolmentState.ACTIVE, due_at__lte=due_by)
        # The due index's order (due_at, id): the claim reads its chunk off the index and stops. In id order it sorted
        # every due row for each chunk (seen in the plan), so each chunk of a large tick read all that was left.
        .order_by("due_at", "pk")
        .select_for_update(skip_locked=True)
        .values_list("pk", "member_id", "entry_number")[:limit]
    )
