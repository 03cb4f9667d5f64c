"""Every state change of tasks and sign-ins: staff editing tasks, a member signing in, and the batch handler that moves
task progress and pays a completed task's reward exactly once per member per window.

Rewards go through the other apps' services: points and growth value through the members ledger
(``points_credit_many``, ``growth_add``), benefits and badges left pending (``grants_defer``) and issued by a worker
through ``grants_issue_bulk``, with the task and window as the grant's source reference, so a badge is a grant like any
other.
"""

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.analytics.models import ActivityChannel, ActivityKind
from apps.benefits import services as benefit_services
from apps.benefits.models import STATUS_MARK_KINDS, GrantSource
from apps.campaigns.selectors import segment_members
from apps.core import reasons
from apps.core.activity import StoredActivity, activity_happened
from apps.core.errors import ApplicationError
from apps.core.reasons import Reason, translated_param
from apps.core.references import system_ref
from apps.engagement.locks import lock_task_progress
from apps.engagement.models import SignIn, Task, TaskCompletion, TaskGoal, TaskProgress, TaskStatus
from apps.engagement.selectors import longest_streak
from apps.engagement.windows import local_day, window_start
from apps.members import services as member_services
from apps.members.locks import lock_member, lock_members_for_growth
from apps.members.models import Member, MemberStatus

logger = logging.getLogger(__name__)

# The ledger's reason for a task's reward, rendered in the reader's language.
reasons.MESSAGES.setdefault("task_completed", gettext_noop("Task completed: %(title)s"))

# What may not change once members have progress on a task: it would change what their progress means.
GOAL_FIELDS = ("goal", "activity_kind", "target", "window")


# The kinds the active tasks count, cached per process ------------------------------------------------------------------

TASKS_VERSION_KEY = "engagement:tasks:version"
_ACTIVE_KINDS: dict[str, Any] = {"version": None, "kinds": frozenset()}


def _bump_tasks_version() -> None:
    cache.set(TASKS_VERSION_KEY, uuid.uuid4().hex, None)


def tasks_changed() -> None:
    """Every process reads the active tasks' kinds again at its next batch: now, and again once this transaction
    commits (a process that reads in between would otherwise keep the state from before the commit)."""
    _bump_tasks_version()
    transaction.on_commit(_bump_tasks_version)


def active_task_kinds() -> frozenset[str]:
    """The activity kinds some active task counts; one cache read, and one query only after a task changed."""
    version = cache.get(TASKS_VERSION_KEY)
    if version is None:
        _bump_tasks_version()
        version = cache.get(TASKS_VERSION_KEY)
    if _ACTIVE_KINDS["version"] != version or version is None:
        kinds = frozenset(Task.objects.filter(status=TaskStatus.ACTIVE).values_list("activity_kind", flat=True).distinct())
        _ACTIVE_KINDS["version"], _ACTIVE_KINDS["kinds"] = version, kinds
    return _ACTIVE_KINDS["kinds"]


def task_progress_concerns(kinds: frozenset[str]) -> bool:
    """Registered with ``task_progress_decide``: a store concerns it when an active task counts one of its kinds."""
    return not kinds.isdisjoint(active_task_kinds())


# Tasks (back office) --------------------------------------------------------------------------------------------------


def task_check(*, task: Task) -> None:
    """Raise ``invalid_task`` naming each field whose terms do not make sense together."""
    problems = {name: str(message) for name, message in task.term_problems().items()}
    if not (task.reward_points or task.reward_growth or task.reward_benefit_id or task.reward_badge_id):
        problems["reward_points"] = _("Give a reward: points, growth value, a benefit or a badge.")
    if task.reward_badge_id and task.reward_badge.kind not in STATUS_MARK_KINDS:
        problems["reward_badge"] = _("Choose a benefit of kind badge or title.")
    if task.pk:
        stored = Task.objects.filter(pk=task.pk).values(*GOAL_FIELDS).first()
        if stored and TaskProgress.objects.filter(task_id=task.pk).exists():
            for name in GOAL_FIELDS:
                if stored[name] != getattr(task, name):
                    problems[name] = _("Members already have progress on this task; create a new task to change its goal.")
    if problems:
        raise ApplicationError("invalid_task", " ".join(dict.fromkeys(problems.values())), fields=problems)


@transaction.atomic
def task_save(*, task: Task, tiers: Iterable | None = None) -> Task:
    """Create or edit a task (its audit history records who changed what)."""
    if task.goal == TaskGoal.ONCE and not task.pk and not task.target:
        task.target = 1
    task_check(task=task)
    task.save()
    if tiers is not None:
        task.tiers.set(tiers)
    tasks_changed()
    return task


def _task_transition(task: Task, allowed: str, to: str) -> Task:
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.status != allowed:
        raise ApplicationError(
            "invalid_transition",
            _("The task is %(status)s.") % {"status": task.get_status_display()},
            fields={"status": task.status},
            http_status=409,
        )
    task.status = to
    task.save(update_fields=["status", "updated_at"])
    tasks_changed()
    return task


@transaction.atomic
def task_pause(*, task: Task) -> Task:
    """Stop counting progress and paying rewards; progress made so far is kept."""
    return _task_transition(task, TaskStatus.ACTIVE, TaskStatus.PAUSED)


@transaction.atomic
def task_activate(*, task: Task) -> Task:
    return _task_transition(task, TaskStatus.PAUSED, TaskStatus.ACTIVE)


# Sign-in ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignInResult:
    day: date
    streak: int
    longest_streak: int
    signed_in_at: datetime
    created: bool


@transaction.atomic
def sign_in(*, member: Member, now: datetime | None = None, channel: str = ActivityChannel.APP) -> SignInResult:
    """Sign the member in for today (a local day): once per day; a second call the same day answers the same and changes
    nothing. A day signed in right after the previous one extends the streak; a missed day starts it again at 1.

    The sign-in is announced as a ``sign_in`` activity, so earning rules and tasks reward it where activity is stored.
    """
    now = now or timezone.now()
    member = lock_member(member_id=member.pk)
    if member.status != MemberStatus.ACTIVE:
        raise ApplicationError(
            "member_not_active", _("The member's account is %(status)s.") % {"status": member.get_status_display()}, http_status=409
        )
    day = local_day(now)
    existing = SignIn.objects.filter(member_id=member.pk, day=day).first()
    if existing is not None:
        return SignInResult(existing.day, existing.streak, longest_streak(member_id=member.pk), existing.signed_in_at, created=False)
    if SignIn.objects.filter(member_id=member.pk, day__gt=day).exists():
        raise ApplicationError(
            "sign_in_out_of_order", _("A later day is already signed in."), fields={"day": day.isoformat()}, http_status=409
        )
    previous = SignIn.objects.filter(member_id=member.pk, day=day - timedelta(days=1)).values_list("streak", flat=True).first()
    row = SignIn.objects.create(member_id=member.pk, day=day, streak=(previous or 0) + 1, signed_in_at=now)
    activity_happened(
        member_id=member.pk, kind=ActivityKind.SIGN_IN, event_id=f"sign-in:{member.pk}:{day.isoformat()}", occurred_at=now, channel=channel
    )
    return SignInResult(row.day, row.streak, longest_streak(member_id=member.pk), row.signed_in_at, created=True)


# Task progress: the activity batch handler ---------------------------------------------------------------------------


def _eligible_members(tasks: list[Task], member_ids: set[int]) -> dict[int, set[int]]:
    """Per task, the members of ``member_ids`` it counts for: active, in its tiers, in its segment."""
    members = dict(Member.objects.filter(pk__in=member_ids, status=MemberStatus.ACTIVE).values_list("pk", "tier_id"))
    eligible: dict[int, set[int]] = {}
    for task in tasks:
        tiers = {tier.pk for tier in task.tiers.all()}
        found = {pk for pk, tier_id in members.items() if not tiers or tier_id in tiers}
        if task.segment_id and found:
            found &= set(segment_members(segment=task.segment).filter(pk__in=found).values_list("pk", flat=True))
        eligible[task.pk] = found
    return eligible


def _advance(progress: TaskProgress, task: Task, events: list[StoredActivity]) -> None:
    if task.goal == TaskGoal.STREAK:
        for day in sorted({local_day(event.occurred_at) for event in events}):
            if progress.last_day is not None and day <= progress.last_day:
                continue  # a day already counted (or reported late, after a later one): the streak stands
            consecutive = progress.last_day is not None and day == progress.last_day + timedelta(days=1)
            progress.value = progress.value + 1 if consecutive else 1
            progress.last_day = day
            progress.best_streak = max(progress.best_streak, progress.value)
    else:
        progress.value += len(events)
        latest = max(local_day(event.occurred_at) for event in events)
        progress.last_day = max(progress.last_day or latest, latest)


def _reached(progress: TaskProgress, task: Task) -> bool:
    reached = progress.best_streak if task.goal == TaskGoal.STREAK else progress.value
    return reached >= task.target


@transaction.atomic
def task_progress_record(events: Sequence[StoredActivity]) -> Mapping[int, int]:
    """Move progress for ``events`` and pay the completions at once; the reward points by event (outside an activity
    store, where ``task_progress_decide`` and its payer run in two steps)."""
    outcome = task_progress_decide(events)
    return outcome() if callable(outcome) else outcome


@transaction.atomic
def task_progress_decide(events: Sequence[StoredActivity]) -> Mapping[int, int] | Callable[[], dict[int, int]]:
    """The activity batch handler: move every active task's progress for a batch of newly stored events, set-based, and
    pay each task completed by it — exactly once per member per window, however batches race.

    Queries per batch, whatever its size: the active tasks of the batch's kinds, the members' tier and status (and one
    per task limited to a segment), one insert of missing progress rows, one locking read of them, one update; then,
    only when something was completed, one insert of the completions and one of the pending grants. Returns the payer
    of the reward points and growth value (the points by the event that completed the task).
    """
    events = [event for event in events if event.rewarded]  # recorded without rewards (a migration import): no progress
    kinds = {event.kind for event in events}
    tasks = list(
        Task.objects.filter(status=TaskStatus.ACTIVE, activity_kind__in=kinds)
        .select_related("segment", "reward_benefit", "reward_badge")
        .prefetch_related("tiers")
        .order_by("pk")
    )
    if not tasks:
        return {}
    eligible = _eligible_members(tasks, {event.member_id for event in events if event.kind in {task.activity_kind for task in tasks}})
    grouped: dict[tuple[int, int, date], list[StoredActivity]] = defaultdict(list)
    for task in tasks:
        for event in events:
            if event.kind != task.activity_kind or event.member_id not in eligible[task.pk]:
                continue
            start = window_start(task, local_day(event.occurred_at))
            if start is not None:
                grouped[(task.pk, event.member_id, start)].append(event)
    if not grouped:
        return {}
    # Inserted in key order, so two batches adding rows for the same members wait for each other instead of deadlocking.
    TaskProgress.objects.bulk_create(
        [TaskProgress(task_id=task_id, member_id=member_id, window_start=start) for task_id, member_id, start in sorted(grouped)],
        ignore_conflicts=True,
    )
    by_task = {task.pk: task for task in tasks}
    now = timezone.now()
    completed: list[tuple[Task, TaskProgress, int]] = []
    rows = lock_task_progress(keys=grouped)
    for progress in rows:
        key = (progress.task_id, progress.member_id, progress.window_start)
        task = by_task[progress.task_id]
        _advance(progress, task, grouped[key])
        if progress.completed_at is None and _reached(progress, task):
            progress.completed_at = now
            completed.append((task, progress, max(event.pk for event in grouped[key])))
    TaskProgress.objects.bulk_update(rows, ["value", "best_streak", "last_day", "completed_at", "updated_at"])
    return _pay(completed, now=now) if completed else {}


def _pay(completed: list[tuple[Task, TaskProgress, int]], *, now: datetime) -> Callable[[], dict[int, int]]:
    """Record the completions and leave their benefits and badges pending for a worker (``grants_defer``: the ingest
    may hold points accounts, which come after a benefit in the lock order); return the payer of the growth value
    and points, which ``apps.core.activity`` runs once every batch handler has locked its own rows."""
    TaskCompletion.objects.bulk_create(
        [
            TaskCompletion(
                task=task,
                member_id=progress.member_id,
                window_start=progress.window_start,
                completed_at=now,
                points=task.reward_points,
                growth=task.reward_growth,
                benefit_id=task.reward_benefit_id,
                badge_id=task.reward_badge_id,
            )
            for task, progress, _event_pk in completed
        ]
    )
    ordered = sorted(completed, key=lambda item: (item[1].member_id, item[0].pk))
    benefit_services.grants_defer(
        grants=[
            benefit_services.DeferredGrant(
                benefit_id=benefit_id,
                member_id=progress.member_id,
                source=GrantSource.TASK,
                source_ref=system_ref("task", task.pk, progress.window_start),
            )
            for task, progress, _event_pk in ordered
            for benefit_id in (task.reward_benefit_id, task.reward_badge_id)
            if benefit_id
        ]
    )

    def pay() -> dict[int, int]:
        member_ids = [progress.member_id for _t, progress, _e in completed]
        members = {member.pk: member for member in lock_members_for_growth(member_ids=member_ids)}
        earned: dict[int, int] = {}
        credits = []
        for task, progress, event_pk in ordered:
            source_ref = system_ref("task", task.pk, progress.window_start)
            reason = Reason("task_completed", {"title": translated_param(task, "title")})
            if task.reward_growth:
                member = members[progress.member_id]
                member_services.growth_add(member=member, amount=task.reward_growth, reason=reason, source_ref=source_ref)
            if task.reward_points:
                credit = member_services.PointsCredit(
                    member_id=progress.member_id, amount=task.reward_points, reason=reason, source_ref=source_ref
                )
                credits.append(credit)
                earned[event_pk] = earned.get(event_pk, 0) + task.reward_points
        if credits:
            member_services.points_credit_many(credits=credits, skip_inactive=True, now=now)
        return earned

    return pay
