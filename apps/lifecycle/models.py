"""Where each person stands: the journey stage (prospect → owner → advocate) and the lifecycle stage (new → churned).

The journey stage moves with journey events (a test drive, an order, a delivery) under the rules in
``lifecycle.services``; the lifecycle stage is recomputed nightly from behaviour against configurable thresholds.
Every move is a ``StageChange`` row, so "when and why" is always answerable, and other apps (journeys, segments,
analytics) read these two tables rather than recomputing stages themselves.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.members.models import Member


class JourneyStage(models.TextChoices):
    PROSPECT = "prospect", _("Prospect")
    INTENT = "intent", _("Intent")
    TEST_DRIVEN = "test_driven", _("Test-driven")
    ORDERED = "ordered", _("Ordered")
    OWNER = "owner", _("Owner")
    ADVOCATE = "advocate", _("Retained / advocate")


class LifecycleStage(models.TextChoices):
    # A context of its own: other catalogues translate a bare "New" as a new record (新增), not a new member (新手).
    NEW = "new", pgettext_lazy("lifecycle stage", "New")
    GROWING = "growing", _("Growing")
    MATURE = "mature", _("Mature")
    DORMANT = "dormant", _("Dormant")
    CHURNED = "churned", _("Churned")
    RETURNED = "returned", _("Returned")


class StageDimension(models.TextChoices):
    JOURNEY = "journey", _("Journey stage")
    LIFECYCLE = "lifecycle", _("Lifecycle stage")


STAGE_MAX_LENGTH = 20


class MemberStage(models.Model):
    """The current stages of one member: one row per member, written only by lifecycle's services."""

    member = models.OneToOneField(Member, verbose_name=_("member"), on_delete=models.CASCADE, primary_key=True, related_name="stage")
    journey_stage = models.CharField(
        _("journey stage"), max_length=STAGE_MAX_LENGTH, choices=JourneyStage.choices, default=JourneyStage.PROSPECT
    )
    journey_stage_since = models.DateTimeField(_("journey stage since"), default=timezone.now)
    lifecycle_stage = models.CharField(
        _("lifecycle stage"), max_length=STAGE_MAX_LENGTH, choices=LifecycleStage.choices, default=LifecycleStage.NEW
    )
    lifecycle_stage_since = models.DateTimeField(_("lifecycle stage since"), default=timezone.now)

    class Meta:
        verbose_name = _("member stage")
        verbose_name_plural = _("member stages")
        indexes = [
            models.Index(fields=["journey_stage"], name="memberstage_journey_idx"),
            models.Index(fields=["lifecycle_stage"], name="memberstage_lifecycle_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_journey_stage_display()} · {self.get_lifecycle_stage_display()}"


class StageChange(models.Model):
    """One move of one member's stage on one dimension: the history behind ``MemberStage``."""

    id = models.BigAutoField(primary_key=True)
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="stage_changes", db_index=False)
    dimension = models.CharField(_("dimension"), max_length=10, choices=StageDimension.choices)
    from_stage = models.CharField(_("from"), max_length=STAGE_MAX_LENGTH, blank=True)
    to_stage = models.CharField(_("to"), max_length=STAGE_MAX_LENGTH)
    changed_at = models.DateTimeField(_("at"), default=timezone.now)
    reason = models.CharField(_("reason"), max_length=255)
    # The activity event that moved the stage, when one did (no foreign key: activity events may live in partitions).
    activity_event_id = models.BigIntegerField(_("activity event"), null=True, blank=True)

    class Meta:
        verbose_name = _("stage change")
        verbose_name_plural = _("stage changes")
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["member", "-changed_at", "-id"], name="stagechange_member_idx"),
            models.Index(fields=["dimension", "changed_at"], name="stagechange_dimension_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.from_stage or '—'} → {self.to_stage}"


class LifecycleSettings(models.Model):
    """The thresholds of the nightly lifecycle staging and of advocacy: one row, edited in the back office."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    new_days = models.PositiveIntegerField(_("new for (days)"), default=30, help_text=_("A member who joined this recently is new."))
    mature_window_days = models.PositiveIntegerField(
        _("maturity window (days)"), default=90, help_text=_("The window in which activity and purchases are counted.")
    )
    mature_min_events = models.PositiveIntegerField(
        _("mature: activities in the window"), default=10, help_text=_("At least this many activities in the window …")
    )
    mature_min_purchases = models.PositiveIntegerField(
        _("mature: purchases in the window"), default=1, help_text=_("… and at least this many purchases make a member mature.")
    )
    dormant_days = models.PositiveIntegerField(_("dormant after (days)"), default=60, help_text=_("No activity for this long: dormant."))
    churned_days = models.PositiveIntegerField(
        _("churned after (days)"), default=180, help_text=_("No activity for this long: churned. Longer than the dormant period.")
    )
    returned_days = models.PositiveIntegerField(
        _("returned for (days)"), default=30, help_text=_("A member active again after dormancy stays 'returned' this long.")
    )
    advocate_service_visits = models.PositiveIntegerField(
        _("advocate: service visits"), default=3, help_text=_("An owner with this many service visits becomes an advocate.")
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("lifecycle thresholds")
        verbose_name_plural = _("lifecycle thresholds")
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="lifecycle_settings_single_row"),
            models.CheckConstraint(
                condition=models.Q(churned_days__gt=models.F("dormant_days")),
                name="lifecycle_churned_after_dormant",
                violation_error_message=_("The churned period must be longer than the dormant period."),
            ),
            models.CheckConstraint(
                condition=models.Q(new_days__gte=1, mature_window_days__gte=1, dormant_days__gte=1, advocate_service_visits__gte=1),
                name="lifecycle_thresholds_positive",
            ),
        ]

    def __str__(self) -> str:
        return str(_("Lifecycle thresholds"))


class JourneyReport(StageChange):
    """The journey analytics page: no rows of its own; its permission (view) opens the page."""

    class Meta:
        proxy = True
        verbose_name = _("journey analytics")
        verbose_name_plural = _("journey analytics")
