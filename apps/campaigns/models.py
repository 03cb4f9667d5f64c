from decimal import Decimal

from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_celery_beat.models import PeriodicTask

from apps.benefits.models import Benefit
from apps.core.history import AuditHistory
from apps.core.models import TimeStampedModel
from apps.members.models import CHANNEL_MAX_LENGTH, ConsentChannel, Member
from apps.messaging.models import MessagePurpose


def empty_rules() -> dict:
    return {"op": "and", "conditions": []}


class Segment(TimeStampedModel):
    """A saved rule-based member set; once frozen, its members are the snapshot taken at ``frozen_at``."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    rules = models.JSONField(_("rules"), default=empty_rules, help_text=_("Conditions combined with AND/OR groups."))
    frozen_at = models.DateTimeField(_("frozen at"), null=True, blank=True)
    frozen_count = models.PositiveIntegerField(_("members in snapshot"), null=True, blank=True)
    history = AuditHistory()

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None


class SegmentMember(models.Model):
    """One member of a frozen segment's snapshot."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="snapshot")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "member"], name="segment_member_unique")]

    def __str__(self) -> str:
        return f"{self.segment_id}:{self.member_id}"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


# The statuses each campaign transition starts from: the services enforce them, the campaign page offers only these.
CAMPAIGN_TRANSITION_FROM: dict[str, set[str]] = {
    "schedule": {CampaignStatus.DRAFT},
    "dry_run": {CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED, CampaignStatus.RUNNING},
    "launch": {CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING},
    "pause": {CampaignStatus.SCHEDULED, CampaignStatus.RUNNING},
    "resume": {CampaignStatus.PAUSED},
    "cancel": {CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED, CampaignStatus.RUNNING},
}
CLOSED_CAMPAIGN_STATUSES = {CampaignStatus.COMPLETED, CampaignStatus.CANCELLED}
# A run's messages are keyed "campaign-run:<run id>:<member id>": the run page counts their opens by this prefix.
RUN_MESSAGE_PREFIX = "campaign-run"


class ScheduleKind(models.TextChoices):
    MANUAL = "manual", _("Manual (launched by staff)")
    ONCE = "once", _("Once, at a time")
    INTERVAL = "interval", _("Every N minutes")
    CRON = "cron", _("Cron expression")


class Trigger(models.TextChoices):
    NONE = "", _("None (acts on the whole segment)")
    ENROLMENT = "enrolment", _("On enrolment")
    TIER_PROMOTION = "tier_promotion", _("On tier promotion")
    BIRTHDAY = "birthday", _("On birthday")
    FIRST_PURCHASE = "first_purchase", _("On first purchase")


class Campaign(TimeStampedModel):
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    segment = models.ForeignKey(Segment, verbose_name=_("segment"), on_delete=models.PROTECT, related_name="campaigns")
    status = models.CharField(_("status"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT, db_index=True)
    # Actions: any combination of the three.
    benefit = models.ForeignKey(
        Benefit, verbose_name=_("benefit to grant"), on_delete=models.PROTECT, null=True, blank=True, related_name="campaigns"
    )
    points_amount = models.PositiveIntegerField(_("points to award"), null=True, blank=True)
    points_valid_days = models.PositiveIntegerField(
        _("points valid for (days)"), null=True, blank=True, help_text=_("Empty: the programme's points validity.")
    )
    message_channel = models.CharField(_("message channel"), max_length=CHANNEL_MAX_LENGTH, choices=ConsentChannel.choices, blank=True)
    message_template_code = models.SlugField(_("message template"), max_length=64, blank=True)
    message_purpose = models.CharField(
        _("message purpose"), max_length=10, choices=MessagePurpose.choices, default=MessagePurpose.MARKETING
    )
    # Schedule, mirrored into django-celery-beat by the campaign services.
    schedule_kind = models.CharField(_("schedule"), max_length=10, choices=ScheduleKind.choices, default=ScheduleKind.MANUAL)
    run_at = models.DateTimeField(_("run at"), null=True, blank=True)
    interval_minutes = models.PositiveIntegerField(_("interval (minutes)"), null=True, blank=True)
    cron = models.CharField(_("cron expression"), max_length=100, blank=True, help_text=_("minute hour day month weekday, in local time"))
    trigger = models.CharField(
        _("trigger"),
        max_length=20,
        choices=Trigger.choices,
        blank=True,
        help_text=_("While scheduled, act on segment members as the event happens (checked every few minutes)."),
    )
    triggers_since = models.DateTimeField(_("listening since"), null=True, blank=True, editable=False)
    periodic_task = models.OneToOneField(PeriodicTask, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+")
    # Budget over the campaign's whole life; empty means no limit.
    max_members = models.PositiveIntegerField(_("max members"), null=True, blank=True)
    max_points = models.PositiveBigIntegerField(_("max points"), null=True, blank=True)
    max_cost = models.DecimalField(_("max cost (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True)
    cost_per_member = models.DecimalField(_("cost per member (CNY)"), max_digits=10, decimal_places=2, default=Decimal("0.00"))
    holdout_percent = models.PositiveSmallIntegerField(
        _("holdout %"),
        default=0,
        validators=[MaxValueValidator(50)],
        help_text=_("Share of the segment left out on purpose, to measure the campaign's effect."),
    )
    applies_frequency_cap = models.BooleanField(_("applies the frequency cap"), default=True)
    history = AuditHistory()

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-id"]
        permissions = [("launch_campaign", _("Can schedule, launch, pause and cancel campaigns"))]
        constraints = [
            models.CheckConstraint(condition=Q(holdout_percent__lte=50), name="campaign_holdout_at_most_50"),
            models.CheckConstraint(condition=Q(cost_per_member__gte=0), name="campaign_cost_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class CampaignRun(models.Model):
    """One execution of a campaign over its segment, with its numbers. A dry run only counts."""

    campaign = models.ForeignKey(Campaign, verbose_name=_("campaign"), on_delete=models.PROTECT, related_name="runs")
    dry_run = models.BooleanField(_("dry run"), default=False)
    status = models.CharField(_("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING, db_index=True)
    # Trigger runs act on the members whose event falls in [window_start, window_end); the key makes each window once.
    trigger_key = models.CharField(_("trigger window"), max_length=64, blank=True)
    window_start = models.DateTimeField(null=True, blank=True, editable=False)
    window_end = models.DateTimeField(null=True, blank=True, editable=False)
    # Beat's launches carry the schedule slot they are for: a second beat (or a redelivered tick) finds it taken.
    scheduled_for = models.DateTimeField(_("scheduled for"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last progress at"), null=True, blank=True)
    # Where the run resumes: every member with a smaller id is done (committed with the chunk).
    cursor = models.BigIntegerField(default=0, editable=False)
    targeted = models.PositiveIntegerField(_("targeted"), default=0)
    processed = models.PositiveIntegerField(_("processed"), default=0)
    acted = models.PositiveIntegerField(_("acted on"), default=0)
    held_out = models.PositiveIntegerField(_("held out"), default=0)
    skipped_no_consent = models.PositiveIntegerField(_("skipped: no consent"), default=0)
    skipped_cap_reached = models.PositiveIntegerField(_("skipped: frequency cap"), default=0)
    skipped_budget_exhausted = models.PositiveIntegerField(_("skipped: budget exhausted"), default=0)
    skipped_member_frozen = models.PositiveIntegerField(_("skipped: member not active"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    points_awarded = models.PositiveBigIntegerField(_("points awarded"), default=0)
    messages_queued = models.PositiveIntegerField(_("messages queued"), default=0)
    benefits_granted = models.PositiveIntegerField(_("benefits granted"), default=0)
    benefits_not_granted = models.PositiveIntegerField(
        _("benefits not granted"), default=0, help_text=_("Acted-on members the benefit's own rules refused: stock, limits, tiers.")
    )
    cost = models.DecimalField(_("cost (CNY)"), max_digits=12, decimal_places=2, default=Decimal("0.00"))

    class Meta:
        verbose_name = _("campaign run")
        verbose_name_plural = _("campaign runs")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "trigger_key"], condition=~Q(trigger_key=""), name="campaign_run_trigger_window_once"
            ),
            models.UniqueConstraint(
                fields=["campaign", "scheduled_for"], condition=Q(scheduled_for__isnull=False), name="campaign_run_once_per_slot"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} #{self.pk}"

    @property
    def progress(self) -> int:
        """Percent of the targeted members processed."""
        if self.status == RunStatus.COMPLETED:
            return 100
        return min(100, self.processed * 100 // self.targeted) if self.targeted else 0


class ActionOutcome(models.TextChoices):
    ACTED = "acted", _("Acted on")
    HELD_OUT = "held_out", _("Held out")
    NO_CONSENT = "no_consent", _("Skipped: no consent")
    CAP_REACHED = "cap_reached", _("Skipped: frequency cap")
    BUDGET_EXHAUSTED = "budget_exhausted", _("Skipped: budget exhausted")
    MEMBER_FROZEN = "member_frozen", _("Skipped: member not active")
    FAILED = "failed", _("Failed")


class CampaignAction(models.Model):
    """What one run did to one member. The unique constraint is the exactly-once guarantee."""

    run = models.ForeignKey(CampaignRun, on_delete=models.CASCADE, related_name="actions")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="campaign_actions")
    outcome = models.CharField(_("outcome"), max_length=20, choices=ActionOutcome.choices)
    created_at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("campaign action")
        verbose_name_plural = _("campaign actions")
        constraints = [models.UniqueConstraint(fields=["run", "member"], name="campaign_action_once_per_run")]
        indexes = [
            models.Index(fields=["member", "created_at"], condition=Q(outcome="acted"), name="campaign_action_cap_idx"),
            # The member's timeline shows every outcome, skipped ones too.
            models.Index(fields=["member", "created_at", "id"], name="campaign_action_member_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.member_id}={self.outcome}"


class ReferralCode(models.Model):
    """A member's own referral code, made the first time it is asked for."""

    member = models.OneToOneField(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="referral_code")
    code = models.CharField(_("code"), max_length=16, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("referral code")
        verbose_name_plural = _("referral codes")

    def __str__(self) -> str:
        return self.code


class ReferralState(models.TextChoices):
    PENDING = "pending", _("Pending (waiting for the qualifying action)")
    QUALIFIED = "qualified", _("Qualified")
    REWARDED = "rewarded", _("Rewarded")
    REJECTED = "rejected", _("Rejected")


class Referral(TimeStampedModel):
    """A member (referee) brought by another (referrer). A member is referred at most once."""

    referrer = models.ForeignKey(Member, verbose_name=_("referrer"), on_delete=models.PROTECT, related_name="referrals_made")
    referee = models.OneToOneField(Member, verbose_name=_("referee"), on_delete=models.PROTECT, related_name="referral")
    code = models.CharField(_("code"), max_length=16)
    state = models.CharField(_("state"), max_length=10, choices=ReferralState.choices, default=ReferralState.PENDING, db_index=True)
    reject_reason = models.CharField(_("reason rejected"), max_length=32, blank=True)
    qualifying_action = models.CharField(_("qualifying action"), max_length=32, blank=True)
    qualified_at = models.DateTimeField(_("qualified at"), null=True, blank=True)
    rewarded_at = models.DateTimeField(_("rewarded at"), null=True, blank=True)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=~Q(referrer=models.F("referee")), name="referral_not_self")]
        indexes = [
            models.Index(fields=["referrer", "rewarded_at"], name="referral_referrer_rewarded_idx"),
            models.Index(fields=["referrer", "created_at", "id"], name="referral_referrer_created_idx"),
            # The back office finds a referral by the code it used.
            models.Index(fields=["code"], name="referral_code_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.referrer_id} → {self.referee_id}"
