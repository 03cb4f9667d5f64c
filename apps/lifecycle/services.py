"""Every write of lifecycle: journey stages moved by journey events, the nightly lifecycle staging, the thresholds,
and moving a merged member's stages to the survivor. docs/lifecycle.md states the rules these functions implement."""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.analytics.days import local_zone
from apps.analytics.models import ActivityEvent, ActivityKind
from apps.core.activity import StoredActivity
from apps.core.errors import ApplicationError
from apps.lifecycle.locks import lock_lifecycle_settings, lock_member_stages
from apps.lifecycle.models import JourneyStage, LifecycleSettings, LifecycleStage, MemberStage, StageChange, StageDimension
from apps.members.models import Member, MemberStatus

JOURNEY_ORDER = [
    JourneyStage.PROSPECT,
    JourneyStage.INTENT,
    JourneyStage.TEST_DRIVEN,
    JourneyStage.ORDERED,
    JourneyStage.OWNER,
    JourneyStage.ADVOCATE,
]
JOURNEY_RANK = {stage.value: rank for rank, stage in enumerate(JOURNEY_ORDER)}

# The stage each journey event moves a person up to (never down: a stage further on stays).
FORWARD_KINDS = {
    ActivityKind.LEAD_CREATED: JourneyStage.INTENT,
    ActivityKind.TEST_DRIVE_BOOKED: JourneyStage.INTENT,
    ActivityKind.TEST_DRIVE_COMPLETED: JourneyStage.TEST_DRIVEN,
    ActivityKind.ORDER_PLACED: JourneyStage.ORDERED,
    ActivityKind.DELIVERED: JourneyStage.OWNER,
}
# What makes an owner an advocate at once; service visits do it once there are enough of them.
ADVOCACY_KINDS = {ActivityKind.RENEWAL, ActivityKind.REFERRAL}
JOURNEY_KINDS = {*FORWARD_KINDS, *ADVOCACY_KINDS, ActivityKind.ORDER_CANCELLED, ActivityKind.SERVICE_VISIT}
# Where a cancelled order goes back to when the history does not say what came before the order.
STAGE_BEFORE_UNKNOWN_ORDER = JourneyStage.INTENT
# The reason of a lifecycle move made by the nightly staging (journey moves carry the kind of their event).
NIGHTLY_REASON = "lifecycle_nightly"
# The reason of the journey move a merge makes when the merged member had gone further.
MERGE_REASON = "member_merge"
ENROLLED_STATUSES = (MemberStatus.ACTIVE, MemberStatus.FROZEN)


def lifecycle_settings() -> LifecycleSettings:
    """The thresholds in force (the defaults until staff save their own)."""
    return LifecycleSettings.objects.filter(id=1).first() or LifecycleSettings()


MAX_THRESHOLD = 36500
# A programme without purchases makes members mature on activity alone.
MAY_BE_ZERO = {"mature_min_purchases"}


@transaction.atomic
def lifecycle_settings_save(*, values: Mapping[str, int]) -> LifecycleSettings:
    """Change the thresholds; each must be a whole number of at least 1 and churn must come after dormancy."""
    current = lock_lifecycle_settings()
    editable = {field.name for field in LifecycleSettings._meta.concrete_fields if field.editable and field.name != "updated_at"}
    unknown = sorted(set(values) - editable)
    if unknown:
        raise ApplicationError(
            "unknown_threshold", _("Unknown threshold: %(names)s.") % {"names": ", ".join(unknown)}, fields={unknown[0]: "unknown"}
        )
    for name, value in values.items():
        lowest = 0 if name in MAY_BE_ZERO else 1
        if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= MAX_THRESHOLD:
            field = LifecycleSettings._meta.get_field(name)
            raise ApplicationError(
                "invalid_threshold",
                _("%(field)s must be a whole number between %(low)d and %(high)d.")
                % {"field": field.verbose_name, "low": lowest, "high": MAX_THRESHOLD},
                fields={name: value},
            )
        setattr(current, name, value)
    if current.churned_days <= current.dormant_days:
        raise ApplicationError(
            "churn_before_dormancy",
            _("The churned period (%(churned)d days) must be longer than the dormant period (%(dormant)d days).")
            % {"churned": current.churned_days, "dormant": current.dormant_days},
            fields={"churned_days": current.churned_days},
        )
    current.save()
    return current


# Journey stages -------------------------------------------------------------------------------------------------


@dataclass
class JourneyHistory:
    """What the rules need to know about a person beyond the batch: their stage and what their stored events add up to."""

    stage: str
    orders_placed: int = 0
    orders_cancelled: int = 0
    service_visits: int = 0
    stage_before_order: str = STAGE_BEFORE_UNKNOWN_ORDER


@dataclass(frozen=True)
class JourneyMove:
    member_id: int
    from_stage: str
    to_stage: str
    at: datetime
    reason: str
    activity_event_id: int | None


def journey_moves(
    *, history: JourneyHistory, events: Sequence[StoredActivity], member_id: int, advocate_service_visits: int
) -> list[JourneyMove]:
    """The rules, for one person's new events in the order they happened (docs/lifecycle.md, "Journey stage rules").

    ``history`` counts the person's stored events other than these. Forward events only ever move up; a cancellation
    moves an ordered person back to where they stood before the order once no order is left open; an order whose
    cancellation arrived first moves nothing; an owner becomes an advocate by a renewal, a referral or enough service
    visits.
    """
    stage = history.stage
    placed, cancelled, visits = history.orders_placed, history.orders_cancelled, history.service_visits
    before_order = history.stage_before_order
    moves = []
    for event in sorted(events, key=lambda e: (e.occurred_at, e.pk)):
        target = None
        if event.kind == ActivityKind.ORDER_PLACED:
            placed += 1
            if placed > cancelled and JOURNEY_RANK[stage] < JOURNEY_RANK[JourneyStage.ORDERED]:
                before_order, target = stage, JourneyStage.ORDERED
        elif event.kind in FORWARD_KINDS:
            if JOURNEY_RANK[FORWARD_KINDS[event.kind]] > JOURNEY_RANK[stage]:
                target = FORWARD_KINDS[event.kind]
        elif event.kind == ActivityKind.ORDER_CANCELLED:
            cancelled += 1
            if stage == JourneyStage.ORDERED and placed <= cancelled:
                target = before_order
        elif event.kind == ActivityKind.SERVICE_VISIT:
            visits += 1
            if stage == JourneyStage.OWNER and visits >= advocate_service_visits:
                target = JourneyStage.ADVOCATE
        elif event.kind in ADVOCACY_KINDS and stage == JourneyStage.OWNER:
            target = JourneyStage.ADVOCATE
        if target is not None and target != stage:
            moves.append(JourneyMove(member_id, stage, str(target), event.occurred_at, event.kind, event.pk))
            stage = target
    return moves


def _journey_histories(member_ids: list[int], new_pks: list[int], existing: Mapping[int, MemberStage]) -> dict[int, JourneyHistory]:
    """Two set-based reads for the whole batch: the members' stored order and service events, and what came before
    their current order."""
    histories = {
        member_id: JourneyHistory(stage=existing[member_id].journey_stage if member_id in existing else JourneyStage.PROSPECT)
        for member_id in member_ids
    }
    counts = (
        ActivityEvent.objects.filter(
            member_id__in=member_ids,
            kind__in=[ActivityKind.ORDER_PLACED, ActivityKind.ORDER_CANCELLED, ActivityKind.SERVICE_VISIT],
        )
        .exclude(pk__in=new_pks)
        .values("member_id")
        .annotate(
            placed=Count("id", filter=Q(kind=ActivityKind.ORDER_PLACED)),
            cancelled=Count("id", filter=Q(kind=ActivityKind.ORDER_CANCELLED)),
            visits=Count("id", filter=Q(kind=ActivityKind.SERVICE_VISIT)),
        )
    )
    for row in counts:
        history = histories[row["member_id"]]
        history.orders_placed, history.orders_cancelled, history.service_visits = row["placed"], row["cancelled"], row["visits"]
    ordered = [member_id for member_id, history in histories.items() if history.stage == JourneyStage.ORDERED]
    if ordered:
        # Newest first per member, the first row of each member kept: a member has a handful of orders, not thousands.
        orders = (
            StageChange.objects.filter(member_id__in=ordered, dimension=StageDimension.JOURNEY, to_stage=JourneyStage.ORDERED)
            .order_by("member_id", "-changed_at", "-id")
            .values_list("member_id", "from_stage")
        )
        seen: set[int] = set()
        for member_id, from_stage in orders:
            if member_id in seen:
                continue
            seen.add(member_id)
            if from_stage:
                histories[member_id].stage_before_order = from_stage
    return histories


def journey_stages_concern(kinds: frozenset[str]) -> bool:
    """Registered with ``journey_stages_apply``: a store concerns it when one of its kinds is a journey event."""
    return not kinds.isdisjoint(JOURNEY_KINDS)


def journey_stages_apply(events: Sequence[StoredActivity]) -> dict[int, int]:
    """The batch handler: move the journey stages of everyone in a batch of newly stored events.

    A fixed number of statements whatever the batch: the stage rows locked in member order, two reads of history, one
    UPSERT of the moved members' stages and one INSERT of their stage changes. Awards no points.
    """
    journey = [event for event in events if event.kind in JOURNEY_KINDS]
    if not journey:
        return {}
    by_member: defaultdict[int, list[StoredActivity]] = defaultdict(list)
    for event in journey:
        by_member[event.member_id].append(event)
    member_ids = sorted(by_member)
    existing = lock_member_stages(member_ids=member_ids)
    histories = _journey_histories(member_ids, [event.pk for event in journey], existing)
    advocate_visits = lifecycle_settings().advocate_service_visits
    moves = []
    for member_id in member_ids:
        moves += journey_moves(
            history=histories[member_id], events=by_member[member_id], member_id=member_id, advocate_service_visits=advocate_visits
        )
    _write_journey_moves(moves, existing)
    return {}


def _write_journey_moves(moves: list[JourneyMove], existing: Mapping[int, MemberStage]) -> None:
    if not moves:
        return
    final: dict[int, JourneyMove] = {}
    for move in moves:
        final[move.member_id] = move
    now = timezone.now()
    member_ids = sorted(final)
    # New rows start their lifecycle as the member's join would (the nightly staging corrects it); an existing row keeps
    # its lifecycle stage, as only the journey columns are updated on conflict.
    joined = dict(Member.objects.filter(pk__in=[pk for pk in member_ids if pk not in existing]).values_list("pk", "joined_at"))
    MemberStage.objects.bulk_create(
        [
            MemberStage(
                member_id=member_id,
                journey_stage=final[member_id].to_stage,
                journey_stage_since=final[member_id].at,
                lifecycle_stage=LifecycleStage.NEW,
                lifecycle_stage_since=min(joined.get(member_id, now), now),
            )
            for member_id in member_ids
        ],
        update_conflicts=True,
        unique_fields=["member"],
        update_fields=["journey_stage", "journey_stage_since"],
    )
    StageChange.objects.bulk_create(
        StageChange(
            member_id=move.member_id,
            dimension=StageDimension.JOURNEY,
            from_stage=move.from_stage,
            to_stage=move.to_stage,
            changed_at=move.at,
            reason=move.reason,
            activity_event_id=move.activity_event_id,
        )
        for move in moves
    )


# Lifecycle stages -----------------------------------------------------------------------------------------------

# Each member's target stage, first match wins; every rule's statement moves the members whose target is its stage.
TARGET_STAGE_SQL = """
CASE
    WHEN f.last_day < %(churned_before)s THEN 'churned'
    WHEN f.last_day < %(dormant_before)s THEN 'dormant'
    WHEN s.lifecycle_stage IN ('dormant', 'churned')
        OR (s.lifecycle_stage = 'returned' AND s.lifecycle_stage_since >= %(returned_since)s) THEN 'returned'
    WHEN f.joined_at >= %(new_since)s THEN 'new'
    WHEN f.window_events >= %(mature_events)s AND f.window_purchases >= %(mature_purchases)s THEN 'mature'
    ELSE 'growing'
END
"""
# The order the rules run in: churn and dormancy first, so "returned" sees who was away before tonight.
RULE_ORDER = [
    LifecycleStage.CHURNED,
    LifecycleStage.DORMANT,
    LifecycleStage.RETURNED,
    LifecycleStage.NEW,
    LifecycleStage.MATURE,
    LifecycleStage.GROWING,
]


@dataclass(frozen=True)
class StagingResult:
    created: int
    moved: dict[str, int]


def staging_params(settings: LifecycleSettings, now: datetime) -> dict[str, Any]:
    """The thresholds as the cut-off days and counts the staging's statements compare with."""
    today = now.astimezone(local_zone()).date()
    return {
        "now": now,
        "today": today,
        "window_start": today - timedelta(days=settings.mature_window_days - 1),
        "churned_before": today - timedelta(days=settings.churned_days),
        "dormant_before": today - timedelta(days=settings.dormant_days),
        "returned_since": now - timedelta(days=settings.returned_days),
        "new_since": now - timedelta(days=settings.new_days),
        "mature_events": settings.mature_min_events,
        "mature_purchases": settings.mature_min_purchases,
        "statuses": list(ENROLLED_STATUSES),
        "reason": NIGHTLY_REASON,
        "dimension": StageDimension.LIFECYCLE,
        "time_zone": local_zone().key,
    }


# Each member's last active day and activity within the window, from the daily roll-up: the same on both databases.
WINDOW_ACTIVITY_SQL = """LEFT JOIN (
    SELECT member_id, max(day) AS last_day,
           sum(events) FILTER (WHERE day >= %(window_start)s) AS window_events,
           sum(purchases) FILTER (WHERE day >= %(window_start)s) AS window_purchases
    FROM analytics_dailymemberactivity
    WHERE day <= %(today)s
    GROUP BY member_id
) a ON a.member_id = m.id
"""

FACTS_SQL = f"""
CREATE TEMPORARY TABLE lifecycle_facts ON COMMIT DROP AS
SELECT m.id AS member_id, m.joined_at,
       GREATEST(a.last_day, (m.joined_at AT TIME ZONE %(time_zone)s)::date) AS last_day,
       COALESCE(a.window_events, 0) AS window_events, COALESCE(a.window_purchases, 0) AS window_purchases
FROM members_member m
{WINDOW_ACTIVITY_SQL}WHERE m.status = ANY(%(statuses)s)
"""  # noqa: S608 (our own constant; every value is a parameter)

RULE_SQL = f"""
WITH moved AS (
    UPDATE lifecycle_memberstage s
    SET lifecycle_stage = %(stage)s, lifecycle_stage_since = %(now)s
    FROM lifecycle_facts f, lifecycle_memberstage before
    WHERE f.member_id = s.member_id AND before.member_id = s.member_id
      AND s.lifecycle_stage <> %(stage)s AND ({TARGET_STAGE_SQL}) = %(stage)s
    RETURNING s.member_id, before.lifecycle_stage AS from_stage
)
INSERT INTO lifecycle_stagechange (member_id, dimension, from_stage, to_stage, changed_at, reason)
SELECT member_id, %(dimension)s, from_stage, %(stage)s, %(now)s, %(reason)s FROM moved
"""  # noqa: S608 (the target expression is ours; every value is a parameter)

# The same statements for the embedded SQLite: no time zones (Django's own date function instead), no arrays, and no
# data-modifying CTE — so each rule writes the history of the members it is about to move, then moves them.
SQLITE_FACTS_SQL = f"""
CREATE TEMPORARY TABLE lifecycle_facts AS
SELECT m.id AS member_id, m.joined_at,
       max(COALESCE(a.last_day, ''), django_datetime_cast_date(m.joined_at, %(time_zone)s, %(connection_zone)s)) AS last_day,
       COALESCE(a.window_events, 0) AS window_events, COALESCE(a.window_purchases, 0) AS window_purchases
FROM members_member m
{WINDOW_ACTIVITY_SQL}WHERE m.status IN ({{statuses}})
"""  # noqa: S608 (our own constant; every value is a parameter)
SQLITE_RULE_HISTORY_SQL = f"""
    INSERT INTO lifecycle_stagechange (member_id, dimension, from_stage, to_stage, changed_at, reason)
    SELECT s.member_id, %(dimension)s, s.lifecycle_stage, %(stage)s, %(now)s, %(reason)s
    FROM lifecycle_memberstage s JOIN lifecycle_facts f ON f.member_id = s.member_id
    WHERE s.lifecycle_stage <> %(stage)s AND ({TARGET_STAGE_SQL}) = %(stage)s
"""  # noqa: S608 (as RULE_SQL)
SQLITE_RULE_MOVE_SQL = f"""
    UPDATE lifecycle_memberstage AS s SET lifecycle_stage = %(stage)s, lifecycle_stage_since = %(now)s
    FROM lifecycle_facts f
    WHERE f.member_id = s.member_id AND s.lifecycle_stage <> %(stage)s AND ({TARGET_STAGE_SQL}) = %(stage)s
"""  # noqa: S608 (as RULE_SQL)


def _facts_sqlite(cursor: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The behaviour table on SQLite; returns the parameters with times as SQLite stores them."""
    as_stored = connection.ops.adapt_datetimefield_value
    params = {key: as_stored(value) if isinstance(value, datetime) else value for key, value in params.items()}
    statuses = {f"status_{number}": status for number, status in enumerate(params.pop("statuses"))}
    params = {**params, **statuses, "connection_zone": connection.timezone_name}
    cursor.execute(SQLITE_FACTS_SQL.format(statuses=", ".join(f"%({name})s" for name in statuses)), params)
    cursor.execute("CREATE UNIQUE INDEX lifecycle_facts_member ON lifecycle_facts (member_id)")
    return params


@transaction.atomic
def lifecycle_stages_compute(*, now: datetime | None = None) -> StagingResult:
    """The nightly staging of every enrolled member: one statement gathers the behaviour (last active day, activities
    and purchases in the window, from the daily roll-ups), one creates the missing stage rows, then one UPDATE per
    stage moves the members whose stage it is and writes their ``StageChange`` rows. Running it twice moves nobody."""
    now = now or timezone.now()
    params = staging_params(lifecycle_settings(), now)
    on_postgresql = connection.vendor == "postgresql"
    moved = {}
    with connection.cursor() as cursor:
        if on_postgresql:
            cursor.execute(FACTS_SQL, params)
            cursor.execute("CREATE UNIQUE INDEX ON lifecycle_facts (member_id)")
        else:
            params = _facts_sqlite(cursor, params)
        cursor.execute("ANALYZE lifecycle_facts")
        # WHERE TRUE: without it SQLite would read the ON CONFLICT as the FROM's join condition.
        cursor.execute(
            """
            INSERT INTO lifecycle_memberstage (member_id, journey_stage, journey_stage_since, lifecycle_stage, lifecycle_stage_since)
            SELECT f.member_id, %(prospect)s, f.joined_at, %(new)s, f.joined_at FROM lifecycle_facts f WHERE TRUE
            ON CONFLICT (member_id) DO NOTHING
            """,
            {"prospect": JourneyStage.PROSPECT, "new": LifecycleStage.NEW},
        )
        created = cursor.rowcount
        for stage in RULE_ORDER:
            stage_params = {**params, "stage": stage.value}
            cursor.execute(RULE_SQL if on_postgresql else SQLITE_RULE_HISTORY_SQL, stage_params)
            moved[stage.value] = cursor.rowcount
            if not on_postgresql:
                cursor.execute(SQLITE_RULE_MOVE_SQL, stage_params)
        # Dropped now rather than at commit: a caller's outer transaction may stage twice.
        cursor.execute("DROP TABLE lifecycle_facts")
    return StagingResult(created=created, moved=moved)


# Merging ----------------------------------------------------------------------------------------------------------


def member_stages_merge(survivor: Member, merged: Member) -> dict[str, int]:
    """The merged member's stage history moves to the survivor; the survivor keeps the further journey stage."""
    rows = lock_member_stages(member_ids=[survivor.pk, merged.pk])
    moved = StageChange.objects.filter(member_id=merged.pk).update(member_id=survivor.pk)
    theirs, ours = rows.get(merged.pk), rows.get(survivor.pk)
    if theirs is not None:
        if ours is None:
            MemberStage.objects.create(
                member_id=survivor.pk,
                journey_stage=theirs.journey_stage,
                journey_stage_since=theirs.journey_stage_since,
                lifecycle_stage=theirs.lifecycle_stage,
                lifecycle_stage_since=theirs.lifecycle_stage_since,
            )
        elif JOURNEY_RANK[theirs.journey_stage] > JOURNEY_RANK[ours.journey_stage]:
            StageChange.objects.create(
                member=survivor,
                dimension=StageDimension.JOURNEY,
                from_stage=ours.journey_stage,
                to_stage=theirs.journey_stage,
                changed_at=timezone.now(),
                reason=MERGE_REASON,
            )
            ours.journey_stage, ours.journey_stage_since = theirs.journey_stage, theirs.journey_stage_since
            ours.save(update_fields=["journey_stage", "journey_stage_since"])
        theirs.delete()
    return {"stage_changes": moved}
