"""The one place journeys and enrolments are locked, first in the product's lock order (docs/architecture.md).

A journey sits where a campaign does: before its enrolments (a run's rows), which come before the benefit a step
grants and the members' points accounts. A status change takes the journey FOR NO KEY UPDATE; a step chunk holds
it FOR SHARE while it works, so a pause or a stop waits for the chunk in flight and the next chunk sees it.
"""

from typing import Any

from django.db import connection

from apps.journeys.models import Enrolment, EnrolmentState, Journey, JourneyPointsUsage


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


def claim_due_enrolments_sql(*, journey_id: int, step_id: int, due_by: object, limit: int) -> tuple[str, dict[str, Any]]:
    """``claim_due_enrolments`` as a PostgreSQL ``SELECT`` (id, member_id, entry_number) to run inside a statement that
    acts on the chunk (same order, same locks), with its named parameters."""
    table = connection.ops.quote_name(Enrolment._meta.db_table)
    sql = (
        f"SELECT id, member_id, entry_number FROM {table}"  # noqa: S608 (our table)
        " WHERE journey_id = %(claim_journey)s AND step_id = %(claim_step)s AND state = %(claim_state)s AND due_at <= %(claim_due_by)s"
        " ORDER BY due_at, id LIMIT %(claim_limit)s FOR UPDATE SKIP LOCKED"
    )
    params = {
        "claim_journey": journey_id,
        "claim_step": step_id,
        "claim_state": EnrolmentState.ACTIVE,
        "claim_due_by": due_by,
        "claim_limit": limit,
    }
    return sql, params


def lock_points_usage(*, journey_id: int) -> JourneyPointsUsage:
    """The journey's points counter, locked FOR UPDATE: chunks awarding points take turns on it (after the journey and
    their enrolments, before the ledger's members and accounts), so racing chunks never pass the budget together.

    Its own row, not the journey's: every chunk holds the journey FOR SHARE, so two of them updating the journey row
    would wait for each other."""
    JourneyPointsUsage.objects.bulk_create([JourneyPointsUsage(journey_id=journey_id)], ignore_conflicts=True)
    return JourneyPointsUsage.objects.select_for_update().get(journey_id=journey_id)
