"""Journeys: building (entry, steps, versions), the transitions (start, pause, resume, stop) and the engine's tick.

The tick works one journey at a time, set-based:

1. **entry** — one ``INSERT … SELECT`` puts every qualifying member in (the entry's members minus those the re-entry
   policy keeps out), each drawn into the holdout or onto the first step, ``ON CONFLICT DO NOTHING`` against the
   one-open-enrolment and one-row-per-entry constraints;
2. **steps** — for each step of each version, in position order, chunks of due enrolments are claimed with
   ``FOR UPDATE SKIP LOCKED``; the chunk's action runs for the whole chunk through the owning app's set-based
   service, its ``StepRun`` rows go in with ``ON CONFLICT DO NOTHING``, its ``journey.step`` outbox events are
   written, and the enrolments move on — all in the chunk's one transaction. A crash rolls the whole chunk back
   (action, runs, events and moves together) and the next tick claims the same enrolments again; the actions'
   own keys (``journey:<journey>:step:<step>:entry:<n>`` per member) stop a second effect even outside that
   transaction;
3. **exits** — one ``UPDATE`` each converts the open enrolments whose member did the goal since entering and
   times out those past the timeout.

On the embedded SQLite (``make run``) the same steps run with the same statements' SQLite forms: no row locks (SQLite
has one writer at a time, so there is nothing to skip), the entry without ``LATERAL``, step runs and moves through
the ORM instead of arrays.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.analytics.models import ActivityEvent
from apps.benefits.locks import lock_benefit
from apps.benefits.models import BenefitStatus, GrantSource
from apps.benefits.services import grants_issue_bulk
from apps.campaigns.conditions import compile_rules
from apps.campaigns.models import Segment
from apps.campaigns.selectors import segment_members
from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.core.outbox import EventType, outbox_emit_many, outbox_subscribed_types
from apps.core.reasons import Reason
from apps.journeys.locks import claim_due_enrolments, claim_due_enrolments_sql, lock_journey, lock_points_usage, share_journey_status
from apps.journeys.models import (
    JOURNEY_TRANSITION_FROM,
    OPEN_ENROLMENT_STATES,
    BranchCondition,
    Enrolment,
    EnrolmentState,
    EntryKind,
    Journey,
    JourneyPointsUsage,
    JourneyStatus,
    JourneyStep,
    JourneyVersion,
    ReentryPolicy,
    StepKind,
    StepOutcome,
    StepRun,
)
from apps.journeys.outbox_events import step_events, step_events_sql
from apps.journeys.steps import StepSpec, known_activity_kind, steps_clean, wait_until
from apps.lifecycle.models import LifecycleStage, MemberStage, StageChange, StageDimension
from apps.members.models import Consent, Member, MemberStatus, TagChangeSource, TierChange, TierChangeKind
from apps.members.services import points_earn_bulk, tags_add, tags_by_name
from apps.messaging.services import messages_enqueue_bulk

# Written only by the transitions and the engine, never by the journey form.
JOURNEY_SERVICE_FIELDS = ("status", "current_version", "started_at", "entry_cursor")


def _config(key: str) -> Any:
    return settings.USEROPS_JOURNEYS[key]


# Building ---------------------------------------------------------------------------------------


def _check_entry(journey: Journey) -> None:
    if not (journey.name or "").strip():
        raise ApplicationError("name_required", _("A journey needs a name."), fields={"name": ""})
    if journey.entry_kind not in EntryKind.values:
        raise ApplicationError("invalid_entry", _("Choose how members enter."), fields={"entry_kind": ""})
    if journey.entry_kind == EntryKind.SEGMENT and journey.entry_segment_id is None:
        raise ApplicationError("segment_required", _("A segment entry needs a segment."), fields={"entry_segment": ""})
    if journey.entry_kind == EntryKind.EVENT and not known_activity_kind(journey.entry_activity_kind or ""):
        raise ApplicationError(
            "unknown_kind",
            _("An event entry needs a known activity kind (got “%(kind)s”).") % {"kind": journey.entry_activity_kind},
            fields={"entry_activity_kind": ""},
        )
    properties = journey.entry_properties if journey.entry_properties not in (None, "") else {}
    if not isinstance(properties, dict) or any(isinstance(value, dict | list) for value in properties.values()):
        raise ApplicationError(
            "invalid_properties", _("Event properties must be an object of names and plain values."), fields={"entry_properties": ""}
        )
    journey.entry_properties = properties
    if journey.entry_kind == EntryKind.LIFECYCLE and journey.entry_stage and journey.entry_stage not in LifecycleStage.values:
        raise ApplicationError(
            "invalid_stage", _("Unknown lifecycle stage: %(stage)s.") % {"stage": journey.entry_stage}, fields={"entry_stage": ""}
        )
    if journey.reentry == ReentryPolicy.AFTER_DAYS and not journey.reentry_days:
        raise ApplicationError("reentry_days_required", _("Say after how many days a member may enter again."), fields={"reentry_days": ""})
    if not 0 <= (journey.holdout_percent or 0) <= 50:
        raise ApplicationError("invalid_holdout", _("The holdout is between 0 and 50 %."), fields={"holdout_percent": ""})
    if journey.goal_activity_kind and not known_activity_kind(journey.goal_activity_kind):
        raise ApplicationError(
            "unknown_kind", _("Unknown activity kind: %(kind)s.") % {"kind": journey.goal_activity_kind}, fields={"goal_activity_kind": ""}
        )


@transaction.atomic
def journey_save(*, journey: Journey, actor: User | None = None) -> Journey:
    """Create or edit a journey's entry, re-entry, holdout, goal and timeout (not once it is stopped)."""
    _check_entry(journey)
    journey._history_user = actor
    if not journey.pk:
        journey.status = JourneyStatus.DRAFT
        journey.save()
        return journey
    stored = lock_journey(journey_id=journey.pk)
    if stored.status == JourneyStatus.STOPPED:
        raise ApplicationError("journey_stopped", _("A stopped journey cannot change."), http_status=409)
    for name in JOURNEY_SERVICE_FIELDS:
        setattr(journey, name, getattr(stored, name))
    # Under the journey's lock no chunk is in flight (each holds it FOR SHARE), so the points awarded are final here.
    awarded = JourneyPointsUsage.objects.filter(journey_id=journey.pk).values_list("points_awarded", flat=True).first() or 0
    if journey.points_budget is not None and journey.points_budget < awarded:
        raise ApplicationError(
            "budget_below_awarded",
            _("The points budget cannot be less than the %(awarded)d points the journey has already awarded.") % {"awarded": awarded},
            fields={"points_budget": ""},
        )
    journey.save()
    return journey


def _require_points_right(cleaned: list[tuple[str, dict[str, Any], int | None, int | None]], actor: User | None) -> None:
    """Points go out only through a journey built by someone who may run journeys, as a campaign's points go out only
    when someone who may launch campaigns launches it: a points step saved by anyone else is refused (a step edit on a
    running journey reaches new entrants without any transition)."""
    if actor is None or actor.has_perm("journeys.run_journey"):
        return
    for position, (kind, _params, _yes, _no) in enumerate(cleaned, start=1):
        if kind == StepKind.POINTS:
            raise ApplicationError(
                "points_step_needs_run_right",
                _("Step %(position)d (Award points), points: only staff who may start journeys may save a step that awards points.")
                % {"position": position},
                http_status=403,
                fields={f"step_{position}.points": ""},
            )


@transaction.atomic
def journey_steps_save(*, journey: Journey, steps: list[StepSpec], actor: User | None = None) -> JourneyVersion:
    """Save a journey's steps. Once anyone has entered on the current version the steps become a new version, which
    new entrants follow; members inside finish on theirs. Before that, the current version's steps are replaced."""
    journey = lock_journey(journey_id=journey.pk)
    if journey.status == JourneyStatus.STOPPED:
        raise ApplicationError("journey_stopped", _("A stopped journey cannot change."), http_status=409)
    cleaned = steps_clean(steps)
    _require_points_right(cleaned, actor)
    version = journey.current_version
    if version is None or version.enrolments.exists():
        number = (journey.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        version = JourneyVersion.objects.create(journey=journey, number=number)
        journey.current_version = version
        journey._history_user = actor
        journey.save(update_fields=["current_version", "updated_at"])
    else:
        version.steps.all().delete()
    JourneyStep.objects.bulk_create(
        [
            JourneyStep(version=version, position=position, kind=kind, params=params, yes_next=yes_next, no_next=no_next)
            for position, (kind, params, yes_next, no_next) in enumerate(cleaned, start=1)
        ]
    )
    return version


def _require_status(journey: Journey, transition: str, action: str) -> None:
    if journey.status not in JOURNEY_TRANSITION_FROM[transition]:
        raise ApplicationError(
            "invalid_status",
            _("A %(status)s journey cannot be %(action)s.") % {"status": journey.get_status_display().lower(), "action": action},
            http_status=409,
        )


def _status_set(journey: Journey, status: str, actor: User | None, *extra: str) -> Journey:
    journey.status = status
    journey._history_user = actor
    journey.save(update_fields=["status", "updated_at", *extra])
    return journey


@transaction.atomic
def journey_start(*, journey: Journey, actor: User | None = None) -> Journey:
    """Start admitting members: entries count from now (a segment entry takes its members at the next tick)."""
    journey = lock_journey(journey_id=journey.pk)
    _require_status(journey, "start", _("started"))
    _check_entry(journey)
    if journey.current_version is None or not journey.current_version.steps.exists():
        raise ApplicationError("steps_required", _("Add the journey's steps before starting it."), http_status=409)
    journey.started_at = journey.entry_cursor = timezone.now()
    return _status_set(journey, JourneyStatus.RUNNING, actor, "started_at", "entry_cursor")


@transaction.atomic
def journey_pause(*, journey: Journey, actor: User | None = None) -> Journey:
    """Nobody enters or moves on until resumed; waits that end meanwhile are acted on at resumption."""
    journey = lock_journey(journey_id=journey.pk)
    _require_status(journey, "pause", _("paused"))
    return _status_set(journey, JourneyStatus.PAUSED, actor)


@transaction.atomic
def journey_resume(*, journey: Journey, actor: User | None = None) -> Journey:
    """Back to work; the events that happened while paused still enter (the entry cursor did not move)."""
    journey = lock_journey(journey_id=journey.pk)
    _require_status(journey, "resume", _("resumed"))
    return _status_set(journey, JourneyStatus.RUNNING, actor)


@transaction.atomic
def journey_stop(*, journey: Journey, actor: User | None = None) -> Journey:
    """For good: every member still inside exits, in one UPDATE."""
    journey = lock_journey(journey_id=journey.pk)
    _require_status(journey, "stop", _("stopped"))
    Enrolment.objects.filter(journey=journey, state__in=OPEN_ENROLMENT_STATES).update(
        state=EnrolmentState.EXITED, step=None, due_at=None, finished_at=timezone.now()
    )
    return _status_set(journey, JourneyStatus.STOPPED, actor)


# Entry ------------------------------------------------------------------------------------------


def _entry_candidates(journey: Journey, since: datetime, until: datetime) -> tuple[str, list[Any]]:
    """SQL (and parameters) of the member ids the entry admits now, one column, duplicates possible."""
    if journey.entry_kind == EntryKind.SEGMENT:
        segment = Segment.objects.get(pk=journey.entry_segment_id)
        members = segment_members(segment=segment).order_by().values("pk")
    elif journey.entry_kind == EntryKind.EVENT:
        members = ActivityEvent.objects.filter(kind=journey.entry_activity_kind, recorded_at__gt=since, recorded_at__lte=until)
        if journey.entry_properties and connection.vendor == "postgresql":
            members = members.filter(properties__contains=journey.entry_properties)
        elif journey.entry_properties:
            # SQLite has no JSON containment; the properties are flat (checked on save), so key by key is the same.
            members = members.filter(**{f"properties__{key}": value for key, value in journey.entry_properties.items()})
        members = members.order_by().values("member_id")
    elif journey.entry_kind == EntryKind.LIFECYCLE:
        members = StageChange.objects.filter(dimension=StageDimension.LIFECYCLE, changed_at__gt=since, changed_at__lte=until)
        if journey.entry_stage:
            members = members.filter(to_stage=journey.entry_stage)
        members = members.order_by().values("member_id")
    else:
        members = TierChange.objects.filter(kind=TierChangeKind.PROMOTION, created_at__gt=since, created_at__lte=until)
        members = members.order_by().values("member_id")
    sql, params = members.query.sql_with_params()
    return sql, list(params)


def _reentry_sql(journey: Journey, now: datetime) -> tuple[str, list[Any]]:
    if journey.reentry == ReentryPolicy.ALWAYS:
        return "TRUE", []
    if journey.reentry == ReentryPolicy.AFTER_DAYS:
        return "prev.last_left <= %s", [now - timedelta(days=journey.reentry_days or 0)]
    return "FALSE", []


def _first_step(version: JourneyVersion, now: datetime) -> tuple[JourneyStep, datetime]:
    step = version.steps.order_by("position").first()
    return step, (wait_until(step.params, now) if step.kind == StepKind.WAIT else now)


@transaction.atomic
def journey_enter(*, journey_id: int, now: datetime | None = None) -> int:
    """Admit every member the entry qualifies now, in one INSERT … SELECT; returns how many entered."""
    now = now or timezone.now()
    journey = lock_journey(journey_id=journey_id)
    if journey.status != JourneyStatus.RUNNING or journey.current_version_id is None:
        return 0
    since = journey.entry_cursor or journey.started_at or now
    candidates, candidate_params = _entry_candidates(journey, since, now)
    reentry, reentry_params = _reentry_sql(journey, now)
    step, due_at = _first_step(journey.current_version, now)
    if connection.vendor != "postgresql":
        entered = _enter_sqlite(journey, candidates, candidate_params, reentry, reentry_params, step, due_at, now)
    else:
        entered = _enter_postgresql(journey, candidates, candidate_params, reentry, reentry_params, step, due_at, now)
    if journey.entry_kind != EntryKind.SEGMENT:
        journey.entry_cursor = now
        journey.save(update_fields=["entry_cursor"])
    return entered


def _enter_postgresql(
    journey: Journey,
    candidates: str,
    candidate_params: list[Any],
    reentry: str,
    reentry_params: list[Any],
    step: JourneyStep,
    due_at: datetime,
    now: datetime,
) -> int:
    table = Enrolment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (journey_id, version_id, member_id, entry_number, step_id, due_at, state, in_holdout, entered_at)
            SELECT %s, %s, c.member_id, COALESCE(prev.last_entry, 0) + 1,
                   CASE WHEN draw.held THEN NULL ELSE %s END, CASE WHEN draw.held THEN NULL ELSE %s::timestamptz END,
                   CASE WHEN draw.held THEN %s ELSE %s END, draw.held, %s
            FROM (SELECT DISTINCT cand.member_id FROM ({candidates}) AS cand(member_id)) AS c
            JOIN members_member m ON m.id = c.member_id AND m.status <> %s
            LEFT JOIN (
                SELECT member_id, max(entry_number) AS last_entry, max(finished_at) AS last_left,
                       bool_or(state IN (%s, %s)) AS is_open
                FROM {table} WHERE journey_id = %s GROUP BY member_id
            ) AS prev ON prev.member_id = c.member_id
            CROSS JOIN LATERAL (
                SELECT (c.member_id * 2654435761 + %s * 40503 + COALESCE(prev.last_entry, 0)) %% 4294967296 %% 100 < %s AS held
            ) AS draw
            WHERE prev.member_id IS NULL OR (NOT prev.is_open AND {reentry})
            ON CONFLICT DO NOTHING
            """,  # noqa: S608 (our tables; the candidates are the ORM's SQL)
            [
                journey.pk,
                journey.current_version_id,
                step.pk,
                due_at,
                EnrolmentState.HELD_OUT,
                EnrolmentState.ACTIVE,
                now,
                *candidate_params,
                MemberStatus.CLOSED,
                EnrolmentState.ACTIVE,
                EnrolmentState.HELD_OUT,
                journey.pk,
                journey.pk,
                journey.holdout_percent,
                *reentry_params,
            ],
        )
        return cursor.rowcount


def _enter_sqlite(
    journey: Journey,
    candidates: str,
    candidate_params: list[Any],
    reentry: str,
    reentry_params: list[Any],
    step: JourneyStep,
    due_at: datetime,
    now: datetime,
) -> int:
    """``_enter_postgresql``'s statement for SQLite: the draw as a column instead of a ``LATERAL`` join, ``max`` for
    ``bool_or``, the candidates named by a CTE's column list, and times as SQLite stores them."""
    table = Enrolment._meta.db_table
    as_stored = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH cand(member_id) AS ({candidates})
            INSERT INTO {table} (journey_id, version_id, member_id, entry_number, step_id, due_at, state, in_holdout, entered_at)
            SELECT %s, %s, d.member_id, d.last_entry + 1,
                   CASE WHEN d.held THEN NULL ELSE %s END, CASE WHEN d.held THEN NULL ELSE %s END,
                   CASE WHEN d.held THEN %s ELSE %s END, d.held, %s
            FROM (
                SELECT c.member_id, COALESCE(prev.last_entry, 0) AS last_entry,
                       (c.member_id * 2654435761 + %s * 40503 + COALESCE(prev.last_entry, 0)) %% 4294967296 %% 100 < %s AS held
                FROM (SELECT DISTINCT member_id FROM cand) AS c
                JOIN members_member m ON m.id = c.member_id AND m.status <> %s
                LEFT JOIN (
                    SELECT member_id, max(entry_number) AS last_entry, max(finished_at) AS last_left,
                           max(state IN (%s, %s)) AS is_open
                    FROM {table} WHERE journey_id = %s GROUP BY member_id
                ) AS prev ON prev.member_id = c.member_id
                WHERE prev.member_id IS NULL OR (NOT prev.is_open AND {reentry})
            ) AS d
            WHERE TRUE
            ON CONFLICT DO NOTHING
            """,  # noqa: S608 (our tables; the candidates are the ORM's SQL)
            [
                *candidate_params,
                journey.pk,
                journey.current_version_id,
                step.pk,
                as_stored(due_at),
                EnrolmentState.HELD_OUT,
                EnrolmentState.ACTIVE,
                as_stored(now),
                journey.pk,
                journey.holdout_percent,
                MemberStatus.CLOSED,
                EnrolmentState.ACTIVE,
                EnrolmentState.HELD_OUT,
                journey.pk,
                *[as_stored(value) if isinstance(value, datetime) else value for value in reentry_params],
            ],
        )
        # The driver counts rows only for a statement that starts with INSERT; this one starts with its WITH.
        cursor.execute("SELECT changes()")
        return cursor.fetchone()[0]


# Steps ------------------------------------------------------------------------------------------


@dataclass
class Claimed:
    """A claimed chunk: enrolment ids with their members and entry numbers, earliest due first."""

    rows: list[tuple[int, int, int]]

    @property
    def member_ids(self) -> list[int]:
        return [member_id for _pk, member_id, _entry in self.rows]

    def by_entry(self) -> dict[int, list[int]]:
        """Member ids per entry number: each group shares the actions' idempotency key."""
        groups: dict[int, list[int]] = defaultdict(list)
        for _pk, member_id, entry in self.rows:
            groups[entry].append(member_id)
        return groups


def action_key(journey_id: int, step_id: int, entry_number: int) -> str:
    """The key of one step's action for the members on their ``entry_number``-th entry (a member's enrolment is its
    journey, member and entry number, so key + member id names one enrolment's step)."""
    return f"journey:{journey_id}:step:{step_id}:entry:{entry_number}"


def _branch_yes(step: JourneyStep, claimed: Claimed) -> set[int]:
    """The claimed enrolments whose member meets the branch's condition, in one query."""
    condition, values = step.params["condition"], step.params["values"]
    ids = [pk for pk, _member, _entry in claimed.rows]
    enrolments = Enrolment.objects.filter(pk__in=ids)
    if condition == BranchCondition.ACTIVITY:
        did = ActivityEvent.objects.filter(member_id=OuterRef("member_id"), kind__in=values, occurred_at__gte=OuterRef("entered_at"))
        return set(enrolments.filter(Exists(did)).values_list("pk", flat=True))
    members = Member.objects.filter(pk__in=claimed.member_ids)
    if condition == BranchCondition.TIER:
        members = members.filter(tier__code__in=values)
    elif condition == BranchCondition.JOURNEY_STAGE:
        members = members.filter(Exists(MemberStage.objects.filter(member_id=OuterRef("pk"), journey_stage__in=values)))
    elif condition == BranchCondition.LIFECYCLE_STAGE:
        members = members.filter(Exists(MemberStage.objects.filter(member_id=OuterRef("pk"), lifecycle_stage__in=values)))
    elif condition == BranchCondition.CONSENT:
        members = members.filter(Exists(Consent.objects.filter(member_id=OuterRef("pk"), channel__in=values, granted=True)))
    else:
        segment = Segment.objects.get(pk=int(values[0]))
        members = members.filter(compile_rules(segment.rules))
    matched = set(members.values_list("pk", flat=True))
    return {pk for pk, member_id, _entry in claimed.rows if member_id in matched}


def _award_points(journey: Journey, step: JourneyStep, claimed: Claimed, now: datetime) -> set[int]:
    """Credit the step's points to the chunk's members within the journey's points budget; returns the enrolments
    skipped because the budget is spent.

    The journey's points counter is locked first (``lock_points_usage``), so racing chunks take turns and never pass
    the budget together. Members are paid in claim order, a slice the budget affords at a time: a member the ledger
    leaves out (not active, or already paid under the same key) costs nothing, so the next slice may use it.
    """
    params = step.params
    amount = params["amount"]
    expires_at = now + timedelta(days=params["valid_days"]) if params.get("valid_days") else None
    usage = lock_points_usage(journey_id=journey.pk)
    rows = claimed.rows
    while rows:
        affordable = len(rows) if journey.points_budget is None else (journey.points_budget - usage.points_awarded) // amount
        if affordable <= 0:
            break
        paying, rows = Claimed(rows[:affordable]), rows[affordable:]
        for entry, member_ids in paying.by_entry().items():
            credited = points_earn_bulk(
                member_ids=member_ids,
                amount=amount,
                reason=Reason("campaign", {"name": journey.name}),
                source_ref=action_key(journey.pk, step.pk, entry),
                expires_at=expires_at,
                once_key=action_key(journey.pk, step.pk, entry),
            )
            usage.points_awarded += credited * amount
    usage.save(update_fields=["points_awarded"])
    return {pk for pk, _member, _entry in rows}


def _act(journey: Journey, step: JourneyStep, claimed: Claimed, now: datetime) -> set[int]:
    """The step's action for the whole chunk, through the owning app's set-based service; returns the enrolments the
    action skipped (a points budget spent).

    Order follows the product's locks: the benefit first, then the ledger (member → points account), then grants and
    messages, which only key-share the members.
    """
    params = step.params
    if step.kind == StepKind.BENEFIT:
        benefit = lock_benefit(benefit_id=params["benefit_id"])
        if benefit.status != BenefitStatus.ACTIVE:
            return set()
        for entry, member_ids in claimed.by_entry().items():
            grants_issue_bulk(
                benefit=benefit, member_ids=member_ids, source=GrantSource.CAMPAIGN, source_ref=action_key(journey.pk, step.pk, entry)
            )
    elif step.kind == StepKind.POINTS:
        return _award_points(journey, step, claimed, now)
    elif step.kind == StepKind.MESSAGE:
        for entry, member_ids in claimed.by_entry().items():
            messages_enqueue_bulk(
                member_ids=member_ids,
                channel=params["channel"],
                template_code=params["template_code"],
                context={"campaign": journey.name, "points": 0, "benefit": ""},
                purpose=params["purpose"],
                dedupe_prefix=action_key(journey.pk, step.pk, entry),
            )
    elif step.kind == StepKind.TAG:
        (tag,) = tags_by_name([params["tag"]])
        tags_add(
            tag=tag,
            member_ids=Member.objects.filter(pk__in=claimed.member_ids).exclude(status=MemberStatus.CLOSED),
            source=TagChangeSource.JOURNEY,
            reference=f"journey {journey.pk} step {step.pk}",
        )
    return set()


def _target(steps: dict[int, JourneyStep], position: int | None, now: datetime) -> tuple[int | None, datetime | None]:
    """Where a move to ``position`` puts an enrolment: the step and when it is due (None, None: the journey is done)."""
    target = steps.get(position) if position is not None else None
    if target is None:
        return None, None
    return target.pk, wait_until(target.params, now) if target.kind == StepKind.WAIT else now


def _record_sql(
    step: JourneyStep,
    steps: dict[int, JourneyStep],
    chunk: tuple[str, dict[str, Any]],
    moves: dict[str, int | None],
    now: datetime,
) -> int:
    """Record a chunk on PostgreSQL in ONE statement: ``chunk`` is a SELECT of the chunk's (id, outcome); each outcome
    moves to the position ``moves`` gives it. The enrolments move, their step runs go in and, if anyone subscribes,
    their ``journey.step`` events are built in the database. Returns how many enrolments moved."""
    chunk_sql, params = chunk
    outcomes = list(moves)
    targets = [_target(steps, moves[outcome], now) for outcome in outcomes]
    table, runs = Enrolment._meta.db_table, StepRun._meta.db_table
    events = ""
    if EventType.JOURNEY_STEP in outbox_subscribed_types():
        events_sql, event_params = step_events_sql("moved", step.version.journey_id, step, now)
        events, params = f", events AS ({events_sql})", {**params, **event_params}
    sql = f"""
        WITH chunk AS ({chunk_sql}),
        targets AS (
            SELECT * FROM unnest(%(outcomes)s::text[], %(targets)s::bigint[], %(due)s::timestamptz[]) AS t(outcome, step_id, due_at)
        ),
        moved AS (
            UPDATE {table} AS e SET step_id = t.step_id, due_at = t.due_at,
                   state = CASE WHEN t.step_id IS NULL THEN %(completed)s ELSE e.state END,
                   finished_at = CASE WHEN t.step_id IS NULL THEN %(ran_at)s ELSE e.finished_at END
            FROM chunk AS c JOIN targets AS t ON t.outcome = c.outcome
            WHERE e.id = c.id
            RETURNING e.id, e.member_id, e.entry_number, c.outcome
        ),
        runs AS (
            INSERT INTO {runs} (enrolment_id, step_id, member_id, outcome, ran_at)
            SELECT id, %(step)s, member_id, outcome, %(ran_at)s FROM moved
            ON CONFLICT DO NOTHING
        ){events}
        SELECT count(*) FROM moved
    """  # noqa: S608 (our tables; the chunk is our SQL)
    params.update(
        outcomes=outcomes,
        targets=[step_id for step_id, _due in targets],
        due=[due for _step, due in targets],
        completed=EnrolmentState.COMPLETED,
        ran_at=now,
        step=step.pk,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _record_sqlite(
    journey: Journey,
    step: JourneyStep,
    steps: dict[int, JourneyStep],
    claimed: Claimed,
    outcomes: dict[int, str],
    moves: dict[str, int | None],
    now: datetime,
) -> None:
    """``_record_sql`` on SQLite: the step runs, the events built in Python, one UPDATE per target."""
    runs = [StepRun(enrolment_id=pk, step=step, member_id=m, outcome=outcomes[pk], ran_at=now) for pk, m, _entry in claimed.rows]
    StepRun.objects.bulk_create(runs, ignore_conflicts=True)
    outbox_emit_many(events=step_events(journey, step, claimed.rows, outcomes, now), types=[EventType.JOURNEY_STEP], occurred_at=now)
    for outcome, position in moves.items():
        enrolments = Enrolment.objects.filter(pk__in=[pk for pk, _member, _entry in claimed.rows if outcomes[pk] == outcome])
        step_id, due_at = _target(steps, position, now)
        if step_id is None:
            enrolments.update(state=EnrolmentState.COMPLETED, step=None, due_at=None, finished_at=now)
        else:
            enrolments.update(step_id=step_id, due_at=due_at)


def _record(
    journey: Journey,
    step: JourneyStep,
    steps: dict[int, JourneyStep],
    claimed: Claimed,
    outcomes: dict[int, str],
    moves: dict[str, int | None],
    now: datetime,
) -> None:
    """The chunk's step runs, events and moves, after its action: ``outcomes`` per enrolment, ``moves`` per outcome."""
    if connection.vendor != "postgresql":
        _record_sqlite(journey, step, steps, claimed, outcomes, moves, now)
        return
    ids = [pk for pk, _member, _entry in claimed.rows]
    chunk_sql = "SELECT * FROM unnest(%(ids)s::bigint[], %(chunk_outcomes)s::text[]) AS c(id, outcome)"
    _record_sql(step, steps, (chunk_sql, {"ids": ids, "chunk_outcomes": [outcomes[pk] for pk in ids]}), moves, now)


# A wait that has ended and an exit need nothing from Python: on PostgreSQL the claim runs inside the statement that
# records the chunk, so no member's row travels to the worker and back.
PASSING_OUTCOMES = {StepKind.WAIT: StepOutcome.PASSED, StepKind.EXIT: StepOutcome.EXITED}


def journey_step_chunk(*, journey_id: int, step: JourneyStep, steps: dict[int, JourneyStep], chunk_size: int, now: datetime) -> int:
    """Run one step for one chunk of its due members in one transaction; returns how many were processed (0: none
    due, or the journey no longer runs)."""
    following = step.position + 1
    with transaction.atomic():
        if share_journey_status(journey_id=journey_id) != JourneyStatus.RUNNING:
            return 0
        if step.kind in PASSING_OUTCOMES and connection.vendor == "postgresql":
            outcome = PASSING_OUTCOMES[step.kind]
            claim_sql, claim_params = claim_due_enrolments_sql(journey_id=journey_id, step_id=step.pk, due_by=now, limit=chunk_size)
            chunk = (f"SELECT id, %(outcome)s::text AS outcome FROM ({claim_sql}) AS claimed", {**claim_params, "outcome": outcome})  # noqa: S608
            return _record_sql(step, steps, chunk, {outcome: None if step.kind == StepKind.EXIT else following}, now)
        claimed = Claimed(claim_due_enrolments(journey_id=journey_id, step_id=step.pk, due_by=now, limit=chunk_size))
        if not claimed.rows:
            return 0
        journey = Journey.objects.get(pk=journey_id)
        if step.kind == StepKind.BRANCH:
            yes = _branch_yes(step, claimed)
            outcomes = {pk: StepOutcome.YES if pk in yes else StepOutcome.NO for pk, _member, _entry in claimed.rows}
            moves = {StepOutcome.YES: step.yes_next or following, StepOutcome.NO: step.no_next or following}
        else:
            skipped = _act(journey, step, claimed, now)
            outcome = PASSING_OUTCOMES.get(step.kind, StepOutcome.DONE)
            outcomes = {pk: StepOutcome.NO_BUDGET if pk in skipped else outcome for pk, _member, _entry in claimed.rows}
            target = None if step.kind == StepKind.EXIT else following
            moves = {outcome: target, StepOutcome.NO_BUDGET: target}
        _record(journey, step, steps, claimed, outcomes, moves, now)
        return len(claimed.rows)


# Exits ------------------------------------------------------------------------------------------


@transaction.atomic
def journey_exits_check(*, journey_id: int, now: datetime | None = None) -> tuple[int, int]:
    """Convert open enrolments whose member did the goal since entering, then time out those past the timeout;
    one UPDATE each. Returns (converted, timed out)."""
    now = now or timezone.now()
    journey = Journey.objects.get(pk=journey_id)
    open_enrolments = Enrolment.objects.filter(journey_id=journey_id, state__in=OPEN_ENROLMENT_STATES)
    converted = timed_out = 0
    if journey.goal_activity_kind:
        goal = ActivityEvent.objects.filter(
            member_id=OuterRef("member_id"), kind=journey.goal_activity_kind, occurred_at__gte=OuterRef("entered_at"), occurred_at__lte=now
        )
        converted = open_enrolments.filter(Exists(goal)).update(state=EnrolmentState.CONVERTED, step=None, due_at=None, finished_at=now)
    if journey.timeout_days:
        late = open_enrolments.filter(entered_at__lte=now - timedelta(days=journey.timeout_days))
        timed_out = late.update(state=EnrolmentState.TIMED_OUT, step=None, due_at=None, finished_at=now)
    return converted, timed_out


# The tick ---------------------------------------------------------------------------------------


@dataclass
class TickResult:
    entered: int = 0
    processed: int = 0
    converted: int = 0
    timed_out: int = 0


def journey_tick(*, journey_id: int, chunk_size: int | None = None, now: datetime | None = None) -> TickResult:
    """Everything due in one journey now: entries, then each step's due members chunk by chunk, then exits.

    Safe to run twice at once and to die at any point: each chunk commits on its own, claimed rows are skipped by
    the other tick, and what a dead chunk did not commit is claimed again by the next tick.
    """
    now = now or timezone.now()
    chunk_size = chunk_size or _config("CHUNK_SIZE")
    result = TickResult()
    if Journey.objects.filter(pk=journey_id, status=JourneyStatus.RUNNING).exists():
        result.entered = journey_enter(journey_id=journey_id, now=now)
        result.converted, result.timed_out = journey_exits_check(journey_id=journey_id, now=now)
    versions = JourneyVersion.objects.filter(journey_id=journey_id, enrolments__state=EnrolmentState.ACTIVE).distinct()
    for version in versions:
        steps = {step.position: step for step in JourneyStep.objects.filter(version=version).select_related("version")}
        for position in sorted(steps):
            while processed := journey_step_chunk(journey_id=journey_id, step=steps[position], steps=steps, chunk_size=chunk_size, now=now):
                result.processed += processed
    return result


def journeys_tick_all(*, now: datetime | None = None) -> dict[int, TickResult]:
    """Beat's tick: every running journey, one after the other."""
    return {
        journey_id: journey_tick(journey_id=journey_id, now=now)
        for journey_id in Journey.objects.filter(status=JourneyStatus.RUNNING).order_by("pk").values_list("pk", flat=True)
    }


# Merging members --------------------------------------------------------------------------------


def enrolments_merge(survivor: Member, merged: Member) -> dict[str, int]:
    """The merge mover: the merged member's enrolments (and their step runs) move to the survivor, except in journeys
    the survivor is in too, where the survivor's place is kept and the merged member's open enrolment exits."""
    now = timezone.now()
    shared = Enrolment.objects.filter(member=survivor).values("journey_id")
    exited = Enrolment.objects.filter(member=merged, journey_id__in=shared, state__in=OPEN_ENROLMENT_STATES).update(
        state=EnrolmentState.EXITED, step=None, due_at=None, finished_at=now
    )
    moving = Enrolment.objects.filter(member=merged).exclude(journey_id__in=shared)
    runs = StepRun.objects.filter(enrolment__in=moving).update(member=survivor)
    moved = moving.update(member=survivor)
    return {"journey_enrolments": moved, "journey_step_runs": runs, "journey_enrolments_exited": exited}
