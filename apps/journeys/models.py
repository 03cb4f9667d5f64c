"""Journeys (旅程): multi-step campaigns that carry each member from an entry through waits, branches and actions.

A journey's steps belong to a version; editing the steps of a journey someone has entered makes a new version, so
members already inside finish on the steps they entered with. Each member's place is an ``Enrolment`` row (the
journey, the version, the step it waits at and when that step is due); each step a member passes is one ``StepRun``
row, unique per (enrolment, step) — the table that makes every step run exactly once per member.
"""

from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.analytics.models import KIND_CODE_MAX_LENGTH
from apps.campaigns.models import Segment
from apps.core.history import AuditHistory
from apps.core.models import TimeStampedModel
from apps.lifecycle.models import STAGE_MAX_LENGTH
from apps.members.models import Member


class JourneyStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    STOPPED = "stopped", _("Stopped")


# The statuses each transition starts from: the services enforce them, the journey page offers only these.
JOURNEY_TRANSITION_FROM: dict[str, set[str]] = {
    "start": {JourneyStatus.DRAFT},
    "pause": {JourneyStatus.RUNNING},
    "resume": {JourneyStatus.PAUSED},
    "stop": {JourneyStatus.DRAFT, JourneyStatus.RUNNING, JourneyStatus.PAUSED},
}


class EntryKind(models.TextChoices):
    SEGMENT = "segment", _("Members of a segment")
    EVENT = "event", _("A journey event (activity)")
    LIFECYCLE = "lifecycle", _("A lifecycle stage change")
    TIER_PROMOTION = "tier_promotion", _("A tier promotion")


class ReentryPolicy(models.TextChoices):
    NEVER = "never", _("Never: each member enters once")
    AFTER_DAYS = "after_days", _("Again N days after leaving")
    ALWAYS = "always", _("Again whenever they qualify after leaving")


class Journey(TimeStampedModel):
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=JourneyStatus.choices, default=JourneyStatus.DRAFT, db_index=True)
    entry_kind = models.CharField(_("entry"), max_length=20, choices=EntryKind.choices, default=EntryKind.SEGMENT)
    entry_segment = models.ForeignKey(
        Segment, verbose_name=_("entry segment"), on_delete=models.PROTECT, null=True, blank=True, related_name="journeys"
    )
    entry_activity_kind = models.CharField(_("entry activity kind"), max_length=KIND_CODE_MAX_LENGTH, blank=True)
    entry_properties = models.JSONField(
        _("entry event properties"),
        default=dict,
        blank=True,
        help_text=_('Only events whose properties include these values, e.g. {"dealer": "SH001"}.'),
    )
    entry_stage = models.CharField(
        _("entry lifecycle stage"), max_length=STAGE_MAX_LENGTH, blank=True, help_text=_("Empty: any lifecycle change.")
    )
    reentry = models.CharField(_("re-entry"), max_length=12, choices=ReentryPolicy.choices, default=ReentryPolicy.NEVER)
    reentry_days = models.PositiveIntegerField(_("re-entry after (days)"), null=True, blank=True)
    holdout_percent = models.PositiveSmallIntegerField(
        _("holdout %"),
        default=0,
        validators=[MaxValueValidator(50)],
        help_text=_("Share of entrants held out on purpose (no steps), to compare their conversion."),
    )
    goal_activity_kind = models.CharField(
        _("goal"), max_length=KIND_CODE_MAX_LENGTH, blank=True, help_text=_("An activity kind that converts the member, e.g. order_placed.")
    )
    timeout_days = models.PositiveIntegerField(_("time out after (days)"), null=True, blank=True)
    # Over the journey's whole life, across its versions, as a campaign's max points; empty means no limit.
    points_budget = models.PositiveBigIntegerField(
        _("points budget"),
        null=True,
        blank=True,
        help_text=_("Most points the journey's points steps award in all, across versions. Empty: no limit."),
    )
    current_version = models.ForeignKey(
        "JourneyVersion",
        verbose_name=_("current version"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True, editable=False)
    # Event, lifecycle and tier-promotion entries read what happened after this instant (moved by each entry pass).
    entry_cursor = models.DateTimeField(_("entries read up to"), null=True, blank=True, editable=False)
    history = AuditHistory(excluded_fields=["entry_cursor", "updated_at"])

    class Meta:
        verbose_name = _("journey")
        verbose_name_plural = _("journeys")
        ordering = ["-id"]
        permissions = [("run_journey", _("Can start, pause, resume and stop journeys"))]
        constraints = [
            models.CheckConstraint(condition=Q(holdout_percent__lte=50), name="journey_holdout_at_most_50"),
            models.CheckConstraint(condition=~Q(reentry="after_days") | Q(reentry_days__gt=0), name="journey_reentry_days_when_after_days"),
        ]

    def __str__(self) -> str:
        return self.name


class JourneyPointsUsage(models.Model):
    """The points a journey's steps have awarded, against its budget. Written only by the engine, under this row's
    lock (``locks.lock_points_usage``); never by the journey form."""

    journey = models.OneToOneField(
        Journey, verbose_name=_("journey"), on_delete=models.CASCADE, primary_key=True, related_name="points_usage"
    )
    points_awarded = models.PositiveBigIntegerField(_("points awarded"), default=0)

    class Meta:
        verbose_name = _("journey points usage")
        verbose_name_plural = _("journey points usage")

    def __str__(self) -> str:
        return f"{self.journey_id}: {self.points_awarded}"


class JourneyVersion(models.Model):
    """The steps a journey's entrants follow; a member keeps the version it entered with."""

    journey = models.ForeignKey(Journey, verbose_name=_("journey"), on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("journey version")
        verbose_name_plural = _("journey versions")
        ordering = ["journey", "-number"]
        constraints = [models.UniqueConstraint(fields=["journey", "number"], name="journey_version_unique")]

    def __str__(self) -> str:
        return f"{self.journey} v{self.number}"


class StepKind(models.TextChoices):
    WAIT = "wait", _("Wait")
    BRANCH = "branch", _("Branch on a condition")
    MESSAGE = "message", _("Send a message")
    BENEFIT = "benefit", _("Grant a benefit")
    POINTS = "points", _("Award points")
    TAG = "tag", _("Add a tag")
    EXIT = "exit", _("Exit")


class BranchCondition(models.TextChoices):
    ACTIVITY = "activity", _("Did an activity of a kind since entry")
    TIER = "tier", _("Tier is one of")
    JOURNEY_STAGE = "journey_stage", _("Journey stage is one of")
    LIFECYCLE_STAGE = "lifecycle_stage", _("Lifecycle stage is one of")
    CONSENT = "consent", _("Consents to a channel")
    SEGMENT = "segment", _("Matches a segment's rules")


class JourneyStep(models.Model):
    """One step of a version. ``params`` hold the kind's settings (checked by ``journeys.steps``); a branch goes
    on at ``yes_next`` / ``no_next`` (positions further down, empty: the next step); the others at the next position."""

    version = models.ForeignKey(JourneyVersion, verbose_name=_("version"), on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=10, choices=StepKind.choices)
    params = models.JSONField(_("settings"), default=dict, blank=True)
    yes_next = models.PositiveSmallIntegerField(_("if yes, go to step"), null=True, blank=True)
    no_next = models.PositiveSmallIntegerField(_("if no, go to step"), null=True, blank=True)

    class Meta:
        verbose_name = _("journey step")
        verbose_name_plural = _("journey steps")
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="journey_step_position_unique"),
            models.CheckConstraint(condition=Q(position__gte=1), name="journey_step_position_from_1"),
            models.CheckConstraint(
                condition=Q(yes_next__isnull=True) | Q(yes_next__gt=models.F("position")), name="journey_step_yes_forward"
            ),
            models.CheckConstraint(condition=Q(no_next__isnull=True) | Q(no_next__gt=models.F("position")), name="journey_step_no_forward"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.get_kind_display()}"


class EnrolmentState(models.TextChoices):
    ACTIVE = "active", _("Active")
    HELD_OUT = "held_out", _("Held out")
    COMPLETED = "completed", _("Completed")
    CONVERTED = "converted", _("Converted")
    TIMED_OUT = "timed_out", _("Timed out")
    EXITED = "exited", _("Exited (journey stopped)")


OPEN_ENROLMENT_STATES = (EnrolmentState.ACTIVE, EnrolmentState.HELD_OUT)


class Enrolment(models.Model):
    """One member's place in one journey, from entry to exit. ``entry_number`` counts the member's entries."""

    id = models.BigAutoField(primary_key=True)
    journey = models.ForeignKey(Journey, verbose_name=_("journey"), on_delete=models.CASCADE, related_name="enrolments", db_index=False)
    version = models.ForeignKey(JourneyVersion, verbose_name=_("version"), on_delete=models.PROTECT, related_name="enrolments")
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="journey_enrolments", db_index=False
    )
    entry_number = models.PositiveSmallIntegerField(_("entry"), default=1)
    step = models.ForeignKey(
        JourneyStep, verbose_name=_("current step"), on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    due_at = models.DateTimeField(_("step due at"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=EnrolmentState.choices, default=EnrolmentState.ACTIVE)
    in_holdout = models.BooleanField(_("in the holdout"), default=False)
    entered_at = models.DateTimeField(_("entered at"))
    finished_at = models.DateTimeField(_("left at"), null=True, blank=True)

    class Meta:
        verbose_name = _("journey enrolment")
        verbose_name_plural = _("journey enrolments")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["journey", "member", "entry_number"], name="enrolment_entry_unique"),
            models.UniqueConstraint(
                fields=["journey", "member"], condition=Q(state__in=["active", "held_out"]), name="enrolment_one_open_per_journey"
            ),
            models.CheckConstraint(
                condition=~Q(state="active") | Q(step__isnull=False, due_at__isnull=False), name="enrolment_active_has_step"
            ),
        ]
        indexes = [
            models.Index(fields=["journey", "step", "due_at", "id"], condition=Q(state="active"), name="enrolment_due_idx"),
            models.Index(fields=["member", "-entered_at"], name="enrolment_member_idx"),
            models.Index(fields=["journey", "state"], name="enrolment_journey_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.journey_id}:{self.member_id}#{self.entry_number}"


class StepOutcome(models.TextChoices):
    PASSED = "passed", _("Waited and passed")
    YES = "yes", _("Branched: yes")
    NO = "no", _("Branched: no")
    DONE = "done", _("Action done")
    NO_BUDGET = "no_budget", _("Skipped: points budget exhausted")
    EXITED = "exited", _("Exited")


class StepRun(models.Model):
    """One step one member passed; the unique (enrolment, step) pair is the exactly-once guarantee."""

    id = models.BigAutoField(primary_key=True)
    enrolment = models.ForeignKey(
        Enrolment, verbose_name=_("enrolment"), on_delete=models.CASCADE, related_name="step_runs", db_index=False
    )
    step = models.ForeignKey(JourneyStep, verbose_name=_("step"), on_delete=models.PROTECT, related_name="runs", db_index=False)
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="+", db_index=False)
    outcome = models.CharField(_("outcome"), max_length=10, choices=StepOutcome.choices)
    ran_at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("journey step run")
        verbose_name_plural = _("journey step runs")
        ordering = ["-ran_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["enrolment", "step"], name="step_run_once_per_enrolment")]
        indexes = [
            models.Index(fields=["step", "outcome"], name="step_run_step_idx"),
            models.Index(fields=["member", "-ran_at", "-id"], name="step_run_member_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.enrolment_id}@{self.step_id}={self.outcome}"
