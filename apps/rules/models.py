"""Earning rules (积分/成长值规则): when an activity of a kind happens, if conditions hold, award points, growth value
and/or a benefit, within caps and a budget; the awards they made, paid or held for review; the cap counters.

Several rules may match one activity: each applies once, in order of ``priority`` (lower first), then id.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.analytics.models import KIND_CODE_MAX_LENGTH, ActivityEvent
from apps.benefits.models import Benefit
from apps.campaigns.models import Segment
from apps.core.history import AuditHistory
from apps.core.models import TimeStampedModel
from apps.core.references import SystemRef, system_ref
from apps.members.models import Member, Tag, Tier


class RuleStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    ENDED = "ended", _("Ended")


class CapPeriod(models.TextChoices):
    DAY = "day", _("Day")
    WEEK = "week", _("Week")
    MONTH = "month", _("Month")
    LIFETIME = "lifetime", _("Lifetime")


CAP_PERIODS = (CapPeriod.DAY, CapPeriod.WEEK, CapPeriod.MONTH, CapPeriod.LIFETIME)

# What staff (the back-office form) and callers (the API) may set on a rule, one list for both; the status and the
# budget counter are moved only by the services. The relations are set with the rule (``rule_save``).
RULE_EDITABLE_FIELDS = (
    "name",
    "description",
    "kind",
    "priority",
    "starts_at",
    "ends_at",
    "days_of_week",
    "hour_from",
    "hour_to",
    "property_conditions",
    "channels",
    "first_time_only",
    "nth_time",
    "points",
    "growth",
    "unit_property",
    "unit_size",
    *(f"cap_{period}_{what}" for period in CAP_PERIODS for what in ("count", "points")),
    "budget_points",
)
RULE_EDITABLE_RELATIONS = ("tiers", "tags", "segment", "benefit")


class EarningRule(TimeStampedModel):
    """WHEN an activity of ``kind``; IF the conditions hold; THEN points, growth value and/or a benefit, within caps."""

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=RuleStatus.choices, default=RuleStatus.DRAFT)
    kind = models.CharField(
        _("activity kind"), max_length=KIND_CODE_MAX_LENGTH, help_text=_("A built-in kind or one registered in the back office.")
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=100, help_text=_("Rules matching one activity apply in this order (lower first), then by id.")
    )
    # When
    starts_at = models.DateTimeField(_("active from"), null=True, blank=True)
    ends_at = models.DateTimeField(_("active until"), null=True, blank=True)
    days_of_week = models.JSONField(
        _("days of week"), default=list, blank=True, help_text=_("ISO days 1 (Monday) to 7 (Sunday); empty: every day.")
    )
    hour_from = models.PositiveSmallIntegerField(_("from hour"), null=True, blank=True, help_text=_("Local hour 0-23, inclusive."))
    hour_to = models.PositiveSmallIntegerField(_("to hour"), null=True, blank=True, help_text=_("Local hour 1-24, exclusive."))
    # If
    property_conditions = models.JSONField(
        _("property conditions"),
        default=list,
        blank=True,
        help_text=_(
            'All must hold, e.g. [{"property": "amount", "op": "gte", "value": 100}]. Operators: eq, ne, gt, gte, lt, lte, in, exists.'
        ),
    )
    tiers = models.ManyToManyField(Tier, verbose_name=_("member tiers"), blank=True, related_name="+", help_text=_("Empty: any tier."))
    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text=_("Empty: anyone.")
    )
    tags = models.ManyToManyField(
        Tag, verbose_name=_("member tags"), blank=True, related_name="+", help_text=_("Any of these; empty: anyone.")
    )
    channels = models.JSONField(_("channels"), default=list, blank=True, help_text=_("The event's channel is one of these; empty: any."))
    first_time_only = models.BooleanField(
        _("first time only"), default=False, help_text=_("Only the member's first activity of this kind.")
    )
    nth_time = models.PositiveIntegerField(
        _("Nth time"), null=True, blank=True, help_text=_("Only the member's Nth activity of this kind.")
    )
    # Then
    points = models.PositiveIntegerField(_("points"), default=0)
    growth = models.PositiveIntegerField(_("growth value"), default=0)
    unit_property = models.CharField(
        _("per unit of"),
        max_length=64,
        blank=True,
        help_text=_('Empty: the points and growth value are fixed. "amount" or a property name: they are per unit of it, rounded down.'),
    )
    unit_size = models.DecimalField(_("unit size"), max_digits=12, decimal_places=2, default=1, help_text=_("E.g. 10: per 10 yuan."))
    benefit = models.ForeignKey(Benefit, verbose_name=_("benefit"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Limits
    cap_day_count = models.PositiveIntegerField(_("awards per member per day"), null=True, blank=True, help_text=_("Empty: no limit."))
    cap_day_points = models.PositiveIntegerField(_("points per member per day"), null=True, blank=True, help_text=_("Empty: no limit."))
    cap_week_count = models.PositiveIntegerField(_("awards per member per week"), null=True, blank=True, help_text=_("Empty: no limit."))
    cap_week_points = models.PositiveIntegerField(_("points per member per week"), null=True, blank=True, help_text=_("Empty: no limit."))
    cap_month_count = models.PositiveIntegerField(_("awards per member per month"), null=True, blank=True, help_text=_("Empty: no limit."))
    cap_month_points = models.PositiveIntegerField(_("points per member per month"), null=True, blank=True, help_text=_("Empty: no limit."))
    cap_lifetime_count = models.PositiveIntegerField(
        _("awards per member in total"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    cap_lifetime_points = models.PositiveIntegerField(
        _("points per member in total"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    budget_points = models.PositiveBigIntegerField(_("points budget"), null=True, blank=True, help_text=_("Empty: no budget."))
    # A counter: moved only by the award services under the rule's row lock, never from a form.
    budget_used = models.PositiveBigIntegerField(_("budget used"), default=0)
    history = AuditHistory(excluded_fields=["updated_at", "budget_used"], m2m_fields=[tiers, tags])

    class Meta:
        verbose_name = _("earning rule")
        verbose_name_plural = _("earning rules")
        ordering = ["priority", "id"]
        permissions = [("decide_ruleaward", _("Can release or reject held awards"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(budget_points__isnull=True) | Q(budget_used__lte=F("budget_points")), name="rule_budget_within"
            ),
            models.CheckConstraint(condition=Q(unit_size__gt=0), name="rule_unit_size_positive"),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")), name="rule_dates_ordered"
            ),
        ]
        indexes = [models.Index(fields=["status", "kind"], name="rule_status_kind_idx")]

    def __str__(self) -> str:
        return self.name


class RuleTierMultiplier(models.Model):
    """Points (not growth value) of a rule multiplied for members of a tier, rounded down."""

    rule = models.ForeignKey(EarningRule, on_delete=models.CASCADE, related_name="multipliers", verbose_name=_("rule"))
    tier = models.ForeignKey(Tier, on_delete=models.CASCADE, related_name="+", verbose_name=_("tier"))
    multiplier = models.DecimalField(_("multiplier"), max_digits=5, decimal_places=2)

    class Meta:
        verbose_name = _("tier multiplier")
        verbose_name_plural = _("tier multipliers")
        constraints = [
            models.UniqueConstraint(fields=["rule", "tier"], name="rule_multiplier_unique_tier"),
            models.CheckConstraint(condition=Q(multiplier__gt=0), name="rule_multiplier_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.tier} ×{self.multiplier}"


class RuleCounter(models.Model):
    """What one rule awarded one member in one cap period (a local day, ISO week, month, or lifetime)."""

    id = models.BigAutoField(primary_key=True)
    rule = models.ForeignKey(EarningRule, on_delete=models.CASCADE, related_name="+", db_index=False)
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+", db_index=False)
    period = models.CharField(max_length=8, choices=CapPeriod.choices)
    period_start = models.DateField()
    count = models.PositiveIntegerField(default=0)
    points = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "member", "period", "period_start"], name="rule_counter_unique")]
        indexes = [models.Index(fields=["member"], name="rule_counter_member_idx")]

    def __str__(self) -> str:
        return f"{self.rule_id}/{self.member_id} {self.period} {self.period_start}: {self.count}"


class AwardStatus(models.TextChoices):
    PAID = "paid", _("Paid")
    HELD = "held", _("Held for review")
    RELEASED = "released", _("Released and paid")
    REJECTED = "rejected", _("Rejected")


class RuleAward(models.Model):
    """What one rule awarded for one activity: at most one per (rule, activity), so re-delivery never pays twice.

    A held award is not paid (its points are in no balance) until staff release it; a rejected one never is.
    """

    id = models.BigAutoField(primary_key=True)
    # No index of its own on rule or member: the unique (rule, activity) and (rule, occurred_at) indexes lead with the
    # rule and (member, created_at, id) with the member, and each index is one more write per award at ingest.
    rule = models.ForeignKey(EarningRule, verbose_name=_("rule"), on_delete=models.PROTECT, related_name="awards", db_index=False)
    # The activity table may be partitioned by month: no foreign key constraint into it.
    activity = models.ForeignKey(
        ActivityEvent, verbose_name=_("activity"), on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="rule_awards", db_index=False)
    kind = models.CharField(_("activity kind"), max_length=KIND_CODE_MAX_LENGTH)
    occurred_at = models.DateTimeField(_("activity at"))
    status = models.CharField(_("status"), max_length=10, choices=AwardStatus.choices)
    points = models.PositiveIntegerField(_("points"), default=0)
    growth = models.PositiveIntegerField(_("growth value"), default=0)
    benefit = models.ForeignKey(Benefit, verbose_name=_("benefit"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    hold_reasons = models.JSONField(_("hold reasons"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_note = models.CharField(_("note"), max_length=255, blank=True)
    history = AuditHistory()

    class Meta:
        verbose_name = _("rule award")
        verbose_name_plural = _("rule awards")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "activity"], name="rule_award_once_per_activity"),
            models.CheckConstraint(condition=Q(points__gt=0) | Q(growth__gt=0) | Q(benefit__isnull=False), name="rule_award_not_empty"),
        ]
        indexes = [
            models.Index(fields=["activity"], name="rule_award_activity_idx"),
            models.Index(fields=["status", "created_at"], name="rule_award_status_idx"),
            models.Index(fields=["rule", "occurred_at"], name="rule_award_rule_month_idx"),
            # The member's timeline pages through their awards newest first.
            models.Index(fields=["member", "created_at", "id"], name="rule_award_member_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.activity_id} → {self.member_id}"

    @property
    def source_ref(self) -> SystemRef:
        return system_ref("rule", self.rule_id, "activity", self.activity_id)
