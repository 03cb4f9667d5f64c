"""Reads shared by the member API and the back office: a member's tasks with progress, badges, sign-in calendar."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from apps.benefits.models import STATUS_MARK_KINDS, Grant, GrantState
from apps.campaigns.selectors import segment_members
from apps.engagement.models import SignIn, Task, TaskCompletion, TaskGoal, TaskProgress, TaskStatus
from apps.engagement.windows import local_day, window_bounds
from apps.members.models import Member


def member_badges(*, member: Member) -> QuerySet[Grant]:
    """The badges and titles the member holds (a revoked or expired one no longer counts), newest first."""
    return (
        Grant.objects.filter(member=member, benefit__kind__in=STATUS_MARK_KINDS, state=GrantState.ISSUED)
        .select_related("benefit")
        .order_by("-issued_at", "-id")
    )


def _eligible(task: Task, member: Member) -> bool:
    tiers = {tier.pk for tier in task.tiers.all()}
    if tiers and member.tier_id not in tiers:
        return False
    return not task.segment_id or segment_members(segment=task.segment).filter(pk=member.pk).exists()


@dataclass(frozen=True)
class TaskStanding:
    """One task as one member sees it today: where they stand in the current window."""

    task: Task
    window_start: date
    window_end: date | None
    progress: int
    streak: int
    best_streak: int
    completed_at: datetime | None

    @property
    def reward(self) -> dict[str, Any]:
        return {
            "points": self.task.reward_points,
            "growth": self.task.reward_growth,
            "benefit": self.task.reward_benefit.name if self.task.reward_benefit_id else None,
            "badge": self.task.reward_badge.name if self.task.reward_badge_id else None,
        }


def _standing(
    task: Task, progress: TaskProgress | None, bounds: tuple[date, date | None], today: date, completed_at: datetime | None
) -> TaskStanding:
    value = progress.value if progress else 0
    streak = 0
    if task.goal == TaskGoal.STREAK and progress and progress.last_day and progress.last_day >= today - timedelta(days=1):
        streak = progress.value  # a streak whose last day is before yesterday is broken
    shown = streak if task.goal == TaskGoal.STREAK else value
    return TaskStanding(
        task=task,
        window_start=bounds[0],
        window_end=bounds[1],
        progress=task.target if completed_at else min(shown, task.target),
        streak=streak,
        best_streak=progress.best_streak if progress else 0,
        completed_at=completed_at,
    )


def member_tasks(*, member: Member, now: datetime | None = None, include_paused: bool = False) -> list[TaskStanding]:
    """The tasks open to the member today (active, in their tier and segment, today inside the task's dates), with
    their progress in the current window."""
    today = local_day(now or timezone.now())
    tasks = Task.objects.select_related("segment", "reward_benefit", "reward_badge").prefetch_related("tiers").order_by("pk")
    if not include_paused:
        tasks = tasks.filter(status=TaskStatus.ACTIVE)
    open_tasks = []
    for task in tasks:
        bounds = window_bounds(task, today)
        if bounds is not None and _eligible(task, member):
            open_tasks.append((task, bounds))
    if not open_tasks:
        return []
    keys = Q()
    for task, bounds in open_tasks:
        keys |= Q(task_id=task.pk, window_start=bounds[0])
    progress = {(p.task_id, p.window_start): p for p in TaskProgress.objects.filter(keys, member=member)}
    completions = {(c.task_id, c.window_start): c.completed_at for c in TaskCompletion.objects.filter(keys, member=member)}
    return [
        _standing(task, progress.get((task.pk, bounds[0])), bounds, today, completions.get((task.pk, bounds[0])))
        for task, bounds in open_tasks
    ]


def member_task_completions(*, member: Member) -> QuerySet[TaskCompletion]:
    return TaskCompletion.objects.filter(member=member).select_related("task").order_by("-completed_at", "-id")


def longest_streak(*, member_id: int) -> int:
    return SignIn.objects.filter(member_id=member_id).aggregate(longest=Max("streak"))["longest"] or 0


def current_streak(*, member_id: int, today: date) -> int:
    """The streak of today's sign-in, or yesterday's while today is still open; 0 once a day was missed."""
    row = SignIn.objects.filter(member_id=member_id, day__in=[today, today - timedelta(days=1)]).order_by("-day").first()
    return row.streak if row else 0


def sign_in_calendar(*, member: Member, month: date, now: datetime | None = None) -> dict[str, Any]:
    """The days of ``month`` the member signed in, the current and longest streak, and the next streak reward."""
    today = local_day(now or timezone.now())
    first = month.replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    days = list(SignIn.objects.filter(member=member, day__gte=first, day__lt=following).order_by("day").values_list("day", flat=True))
    streak = current_streak(member_id=member.pk, today=today)
    return {
        "month": first.strftime("%Y-%m"),
        "days": days,
        "signed_in_today": SignIn.objects.filter(member=member, day=today).exists(),
        "streak": streak,
        "longest_streak": longest_streak(member_id=member.pk),
        "next_reward": next_streak_reward(member=member, now=now),
    }


def next_streak_reward(*, member: Member, now: datetime | None = None) -> dict[str, Any] | None:
    """The nearest sign-in streak task the member has yet to complete in its current window, counted on the task's own
    streak (a monthly task's streak starts again with the month)."""
    candidates = [
        standing
        for standing in member_tasks(member=member, now=now)
        if standing.task.goal == TaskGoal.STREAK and standing.task.activity_kind == "sign_in" and standing.completed_at is None
    ]
    if not candidates:
        return None
    nearest = min(candidates, key=lambda standing: (standing.task.target - standing.streak, standing.task.pk))
    return {
        "task": nearest.task.code,
        "title": nearest.task.title,
        "target": nearest.task.target,
        "days_to_go": nearest.task.target - nearest.streak,
        "reward": nearest.reward,
    }


def local_day_now() -> date:
    return local_day(timezone.now())


def task_counts(*, task: Task, now: datetime | None = None) -> dict[str, Any]:
    """How a task is doing: members progressing and completed in the current window, and completions ever."""
    bounds = window_bounds(task, local_day(now or timezone.now()))
    current = TaskProgress.objects.filter(task=task, window_start=bounds[0]) if bounds else TaskProgress.objects.none()
    return {
        "window_start": bounds[0] if bounds else None,
        "window_end": bounds[1] if bounds else None,
        "in_progress": current.filter(completed_at__isnull=True).count(),
        "completed_in_window": current.filter(completed_at__isnull=False).count(),
        "completed_ever": TaskCompletion.objects.filter(task=task).count(),
    }
