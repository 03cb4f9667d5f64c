"""Tasks (任务) with per-member progress and completions, and daily sign-ins (签到).

Badges and titles are benefits of kind badge/title (apps.benefits): earning one is a grant of it, so this app
owns no badge table.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from apps.analytics.models import ActivityKind
from apps.benefits.models import STATUS_MARK_KINDS, Benefit
from apps.campaigns.models import Segment
from apps.core.history import AuditHistory
from apps.core.models import TimeStampedModel
from apps.members.models import Member, Tier


class TaskGoal(models.TextChoices):
    COUNT = "count", _("N activities in the window")
    STREAK = "streak", _("On N consecutive days")
    ONCE = "once", _("Once")


class TaskWindow(models.TextChoices):
    NONE = "none", _("No window (counts from the start)")
    FIXED = "fixed", _("Fixed dates")
    WEEK = "week", _("Every week (resets on Monday)")
    MONTH = "month", _("Every month")
    QUARTER = "quarter", _("Every quarter")


class TaskStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")


class Task(TimeStampedModel):
    """A goal over a member's activities, with a window and a reward paid once per member per window."""

    code = models.SlugField(_("code"), max_length=50, unique=True, help_text=_("Stable name used by segments and the API."))
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    goal = models.CharField(_("goal"), max_length=10, choices=TaskGoal.choices, default=TaskGoal.COUNT)
    activity_kind = models.CharField(_("activity kind"), max_length=20, choices=ActivityKind.choices)
    target = models.PositiveIntegerField(_("target (N)"), default=1, help_text=_("Activities to count, or consecutive days for a streak."))
    window = models.CharField(_("window"), max_length=10, choices=TaskWindow.choices, default=TaskWindow.NONE)
    starts_on = models.DateField(
        _("starts on"), null=True, blank=True, help_text=_("Required for fixed dates; otherwise the first day that counts.")
    )
    ends_on = models.DateField(
        _("ends on"), null=True, blank=True, help_text=_("Required for fixed dates; otherwise the last day that counts.")
    )
    tiers = models.ManyToManyField(Tier, verbose_name=_("only for tiers"), blank=True, related_name="+", help_text=_("Empty: every tier."))
    segment = models.ForeignKey(
        Segment, verbose_name=_("only for segment"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reward_points = models.PositiveIntegerField(_("reward: points"), default=0)
    reward_growth = models.PositiveIntegerField(_("reward: growth value"), default=0)
    reward_benefit = models.ForeignKey(
        Benefit, verbose_name=_("reward: benefit"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reward_badge = models.ForeignKey(
        Benefit,
        verbose_name=_("reward: badge or title"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        limit_choices_to={"kind__in": sorted(STATUS_MARK_KINDS)},
    )
    status = models.CharField(_("status"), max_length=10, choices=TaskStatus.choices, default=TaskStatus.ACTIVE, db_index=True)
    history = AuditHistory(excluded_fields=["title_en", "title_zh_hans", "description_en", "description_zh_hans", "updated_at"])

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(target__gte=1), name="task_target_positive"),
            models.CheckConstraint(condition=~Q(goal="once") | Q(target=1), name="task_once_target_one"),
            models.CheckConstraint(
                condition=~Q(window="fixed") | (Q(starts_on__isnull=False) & Q(ends_on__isnull=False)), name="task_fixed_window_has_dates"
            ),
            models.CheckConstraint(
                condition=Q(starts_on__isnull=True) | Q(ends_on__isnull=True) | Q(ends_on__gte=F("starts_on")), name="task_dates_ordered"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def term_problems(self) -> dict[str, str]:
        """What is wrong with the task's own terms, by field (the constraints above, said so staff understand)."""
        problems: dict[str, str] = {}
        if not self.target or self.target < 1:
            problems["target"] = _("The target must be at least 1.")
        elif self.goal == TaskGoal.ONCE and self.target != 1:
            problems["target"] = _("A task done once has a target of 1.")
        elif self.goal == TaskGoal.STREAK and self.window == TaskWindow.WEEK and self.target > 7:
            problems["target"] = _("A weekly window holds at most 7 consecutive days.")
        if self.window == TaskWindow.FIXED and not (self.starts_on and self.ends_on):
            problems["starts_on"] = _("Fixed dates need a first and a last day.")
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            problems["ends_on"] = _("The last day must not be before the first day.")
        return problems

    def clean(self) -> None:
        problems = self.term_problems()
        if problems:
            raise ValidationError(problems)


class TaskProgress(models.Model):
    """One member's progress on one task in one window (``window_start``): a count, or the current streak."""

    task = models.ForeignKey(Task, verbose_name=_("task"), on_delete=models.CASCADE, related_name="progress")
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="+")
    window_start = models.DateField(_("window start"))
    value = models.PositiveIntegerField(_("progress"), default=0, help_text=_("Activities counted, or the current streak in days."))
    best_streak = models.PositiveIntegerField(_("longest streak"), default=0)
    last_day = models.DateField(_("last day counted"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("task progress")
        verbose_name_plural = _("task progress")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["task", "member", "window_start"], name="task_progress_once_per_window")]
        indexes = [models.Index(fields=["member", "task"], name="task_progress_member_idx")]

    def __str__(self) -> str:
        return f"{self.task_id}:{self.member_id}:{self.window_start}"


class TaskCompletion(models.Model):
    """A task completed by a member in one window: the reward paid, exactly once (the unique constraint)."""

    task = models.ForeignKey(Task, verbose_name=_("task"), on_delete=models.PROTECT, related_name="completions")
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="+")
    window_start = models.DateField(_("window start"))
    completed_at = models.DateTimeField(_("completed at"))
    points = models.PositiveIntegerField(_("points paid"), default=0)
    growth = models.PositiveIntegerField(_("growth value added"), default=0)
    benefit = models.ForeignKey(
        Benefit, verbose_name=_("benefit granted"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    badge = models.ForeignKey(Benefit, verbose_name=_("badge granted"), on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("task completion")
        verbose_name_plural = _("task completions")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["task", "member", "window_start"], name="task_completed_once_per_window")]
        indexes = [models.Index(fields=["member", "completed_at"], name="task_completion_member_idx")]

    def __str__(self) -> str:
        return f"{self.task_id}:{self.member_id}:{self.window_start}"


class SignIn(models.Model):
    """A member's daily sign-in (签到): one row per member per local day, with the streak it made."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("day"))
    streak = models.PositiveIntegerField(_("streak (days)"))
    signed_in_at = models.DateTimeField(_("signed in at"))

    class Meta:
        verbose_name = _("sign-in")
        verbose_name_plural = _("sign-ins")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "day"], name="sign_in_once_per_day"),
            models.CheckConstraint(condition=Q(streak__gte=1), name="sign_in_streak_positive"),
        ]
        # The member's timeline pages through their sign-ins newest first.
        indexes = [models.Index(fields=["member", "signed_in_at", "id"], name="sign_in_member_idx")]

    def __str__(self) -> str:
        return f"{self.member_id}:{self.day}"
