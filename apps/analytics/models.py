"""Activity events, the daily roll-ups the dashboards read, and each member's RFM score.

Days are local days of ``USEROPS_ANALYTICS["TIME_ZONE"]`` (Asia/Shanghai by default). A roll-up row's slice —
tier, city, channel — is the member's at the time the row was rolled up; channel is the member's source channel.
"""

from django.db import models
from django.db.models import Q, Value
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.history import AuditHistory
from apps.members.models import Member


class ActivityKind(models.TextChoices):
    APP_OPEN = "app_open", _("App open")
    LOGIN = "login", _("Login")
    PURCHASE = "purchase", _("Purchase")
    BENEFIT_REDEMPTION = "benefit_redemption", _("Benefit redemption")
    EVENT_ATTENDANCE = "event_attendance", _("Event attendance")
    REFERRAL = "referral", _("Referral")
    SURVEY = "survey", _("Survey answer")
    ENROLMENT = "enrolment", _("Enrolment")
    SIGN_IN = "sign_in", _("Daily sign-in")
    PROFILE_COMPLETED = "profile_completed", _("Profile completed")
    COMMUNITY_POST = "community_post", _("Community post")
    COMMUNITY_COMMENT = "community_comment", _("Community comment")
    LIKE_RECEIVED = "like_received", _("Like received")
    SHARE = "share", _("Share")
    CONTENT_FEATURED = "content_featured", _("Content featured")
    TEST_DRIVE_BOOKED = "test_drive_booked", _("Test drive booked")
    SERVICE_VISIT = "service_visit", _("Service visit")
    # The customer journey: what dealers, the website and the member app report about a prospect becoming an owner.
    LEAD_CREATED = "lead_created", _("Lead created")
    TEST_DRIVE_COMPLETED = "test_drive_completed", _("Test drive completed")
    ORDER_PLACED = "order_placed", _("Order placed")
    ORDER_CANCELLED = "order_cancelled", _("Order cancelled")
    DELIVERED = "delivered", _("Delivered")
    RENEWAL = "renewal", _("Renewal")


KIND_CODE_MAX_LENGTH = 40


class RegisteredActivityKind(models.Model):
    """An activity kind the brand defines itself (e.g. ``charging_session``), with a JSON schema for its properties.

    The ingest accepts it beside the built-in kinds and checks each event's properties against the schema.
    """

    code = models.SlugField(
        _("code"),
        max_length=KIND_CODE_MAX_LENGTH,
        unique=True,
        help_text=_("What reporting systems send as the kind: lower-case letters, digits and underscores."),
    )
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    properties_schema = models.JSONField(
        _("properties schema"),
        default=dict,
        blank=True,
        help_text=_('A JSON schema the event\'s properties must satisfy, e.g. {"type": "object", "required": ["kwh"]}.'),
    )
    is_active = models.BooleanField(_("accepted by the ingest"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = AuditHistory(excluded_fields=["name_en", "name_zh_hans"])

    class Meta:
        verbose_name = _("registered activity kind")
        verbose_name_plural = _("registered activity kinds")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[a-z][a-z0-9_]*$"), name="registered_kind_code_format"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class ActivityChannel(models.TextChoices):
    APP = "app", _("Member app")
    MINI_PROGRAM = "mini_program", _("Mini-programme")
    STORE = "store", _("Store")
    DEALER = "dealer", _("Dealer")
    ONLINE = "online", _("Online shop")
    POS = "pos", _("POS")
    EVENT = "event", _("Event")
    STAFF = "staff", _("Back office")
    OTHER = "other", _("Other")


OWN_SOURCE = "userops"


class ActivityEventKey(models.Model):
    """The identity of every stored activity event, ``(source, event_id)``, in a plain table.

    On PostgreSQL the events are partitioned by month of ``occurred_at``, and a partitioned table's unique keys must
    include the partition key — but a re-delivered event is the same event whatever time it carries. The ingest claims
    the key here (``INSERT … ON CONFLICT DO NOTHING``) in the transaction that stores the event, so of racing
    deliveries exactly one stores it.
    """

    id = models.BigAutoField(primary_key=True)
    source = models.CharField(max_length=64)
    event_id = models.CharField(max_length=128)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "event_id"], name="activity_key_unique_source_event")]

    def __str__(self) -> str:
        return f"{self.source}/{self.event_id}"


class ActivityEvent(models.Model):
    """One thing a member did. ``(source, event_id)`` is claimed in ``ActivityEventKey``: ingesting the same event twice
    stores it once. On PostgreSQL the table is partitioned by month of ``occurred_at`` (docs/operations.md).

    ``occurred_at`` is when it happened; ``recorded_at`` when we learnt of it — the roll-up job follows
    ``recorded_at``, so an event that arrives days late still lands on the day it happened.
    """

    id = models.BigAutoField(primary_key=True)
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="activity_events", db_index=False
    )  # the (member, occurred_at) index serves member look-ups
    # A built-in kind (``ActivityKind``) or one the brand registered (``RegisteredActivityKind``).
    kind = models.CharField(_("kind"), max_length=40)
    occurred_at = models.DateTimeField(_("occurred at"))
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    source = models.CharField(_("source"), max_length=64, help_text=_("The system that reported the event."))
    event_id = models.CharField(_("event ID"), max_length=128, help_text=_("Unique per source."))
    amount = models.DecimalField(_("amount (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True)
    order_ref = models.CharField(_("order reference"), max_length=128, blank=True)
    channel = models.CharField(_("channel"), max_length=20, choices=ActivityChannel.choices, blank=True)
    nps_score = models.PositiveSmallIntegerField(_("NPS score (0-10)"), null=True, blank=True)
    # Database defaults, so the set-based writers that name only the columns they know still insert.
    properties = models.JSONField(
        _("properties"),
        default=dict,
        db_default=Value({}, output_field=models.JSONField()),
        blank=True,
        help_text=_("What the reporting system said about the event."),
    )
    device_id = models.CharField(_("device ID"), max_length=64, blank=True, default="", db_default="")
    client_ip = models.GenericIPAddressField(_("client address"), null=True, blank=True)

    class Meta:
        verbose_name = _("activity event")
        verbose_name_plural = _("activity events")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__isnull=True) | Q(amount__gte=0), name="activity_amount_not_negative"),
            models.CheckConstraint(
                condition=~Q(kind="purchase") | Q(amount__isnull=False, amount__gt=0), name="activity_purchase_has_amount"
            ),
            models.CheckConstraint(
                condition=Q(nps_score__isnull=True) | Q(nps_score__gte=0, nps_score__lte=10), name="activity_nps_0_to_10"
            ),
            models.CheckConstraint(condition=~Q(kind="survey") | Q(nps_score__isnull=False), name="activity_survey_has_score"),
        ]
        indexes = [
            models.Index(fields=["recorded_at"], name="activity_recorded_idx"),
            models.Index(fields=["occurred_at"], name="activity_occurred_idx"),
            models.Index(fields=["member", "occurred_at"], name="activity_member_occurred_idx"),
            # The back office finds an event by its ID, or a purchase by its order (only purchases carry one).
            models.Index(fields=["event_id"], name="activity_event_id_idx"),
            models.Index(fields=["order_ref"], name="activity_order_ref_idx", condition=~Q(order_ref="")),
            # Velocity checks count a device's or an address's recent events; most events carry neither.
            models.Index(fields=["device_id", "occurred_at"], name="activity_device_idx", condition=~Q(device_id="")),
            models.Index(fields=["client_ip", "occurred_at"], name="activity_client_ip_idx", condition=Q(client_ip__isnull=False)),
            # The dealer league table reads a period's events that name a dealer (journey events; most events do not).
            models.Index(fields=["occurred_at"], name="activity_dealer_idx", condition=Q(properties__has_key="dealer")),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.kind} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class DailyMemberActivity(models.Model):
    """What one member did on one local day: the finest roll-up, rebuilt per touched day."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField(_("day"))
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    tier_id = models.BigIntegerField()
    city = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=20, blank=True)
    events = models.PositiveIntegerField(default=0, db_default=0)
    purchases = models.PositiveIntegerField(default=0, db_default=0)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0, db_default=0)
    redemptions = models.PositiveIntegerField(default=0, db_default=0)
    attendances = models.PositiveIntegerField(default=0, db_default=0)
    referrals = models.PositiveIntegerField(default=0, db_default=0)
    promoters = models.PositiveIntegerField(default=0, db_default=0)
    passives = models.PositiveIntegerField(default=0, db_default=0)
    detractors = models.PositiveIntegerField(default=0, db_default=0)

    class Meta:
        verbose_name = _("daily member activity")
        verbose_name_plural = _("daily member activity")
        constraints = [models.UniqueConstraint(fields=["day", "member"], name="dma_unique_day_member")]
        indexes = [models.Index(fields=["member", "day"], name="dma_member_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.member_id}"


class DailyMetric(models.Model):
    """Programme totals per local day and slice (tier × city × channel) — what the dashboard's series read."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField(_("day"))
    tier_id = models.BigIntegerField()
    city = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=20, blank=True)
    active_members = models.PositiveIntegerField(default=0, db_default=0)
    new_members = models.PositiveIntegerField(default=0, db_default=0)
    events = models.PositiveIntegerField(default=0, db_default=0)
    purchasers = models.PositiveIntegerField(default=0, db_default=0)
    purchases = models.PositiveIntegerField(default=0, db_default=0)
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=0, db_default=0)
    redemptions = models.PositiveIntegerField(default=0, db_default=0)
    attendances = models.PositiveIntegerField(default=0, db_default=0)
    referrals = models.PositiveIntegerField(default=0, db_default=0)
    promoters = models.PositiveIntegerField(default=0, db_default=0)
    passives = models.PositiveIntegerField(default=0, db_default=0)
    detractors = models.PositiveIntegerField(default=0, db_default=0)

    class Meta:
        verbose_name = _("daily metric")
        verbose_name_plural = _("analytics dashboard")
        constraints = [models.UniqueConstraint(fields=["day", "tier_id", "city", "channel"], name="daily_metric_unique_slice")]

    def __str__(self) -> str:
        return f"{self.day} {self.tier_id}/{self.city}/{self.channel}"


class PeriodKind(models.TextChoices):
    WEEK = "week", _("Week")
    MONTH = "month", _("Month")


class PeriodMetric(models.Model):
    """Distinct-member figures per ISO week or calendar month and slice (WAU, MAU, purchasers, repurchasers)."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=5, choices=PeriodKind.choices)
    start = models.DateField()
    tier_id = models.BigIntegerField()
    city = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=20, blank=True)
    active_members = models.PositiveIntegerField(default=0, db_default=0)
    purchasers = models.PositiveIntegerField(default=0, db_default=0)
    repeat_purchasers = models.PositiveIntegerField(default=0, db_default=0)
    purchases = models.PositiveIntegerField(default=0, db_default=0)
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=0, db_default=0)

    class Meta:
        verbose_name = _("period metric")
        verbose_name_plural = _("period metrics")
        constraints = [models.UniqueConstraint(fields=["kind", "start", "tier_id", "city", "channel"], name="period_metric_unique_slice")]

    def __str__(self) -> str:
        return f"{self.kind} {self.start}"


class CohortActivity(models.Model):
    """Members of a monthly join cohort who were active in a later (or the same) month, per slice."""

    id = models.BigAutoField(primary_key=True)
    cohort = models.DateField()
    month = models.DateField()
    tier_id = models.BigIntegerField()
    city = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=20, blank=True)
    active_members = models.PositiveIntegerField(default=0, db_default=0)

    class Meta:
        verbose_name = _("cohort activity")
        verbose_name_plural = _("cohort activity")
        constraints = [
            models.UniqueConstraint(fields=["cohort", "month", "tier_id", "city", "channel"], name="cohort_activity_unique_slice")
        ]
        indexes = [models.Index(fields=["month"], name="cohort_activity_month_idx")]

    def __str__(self) -> str:
        return f"{self.cohort} → {self.month}"


class RollupState(models.Model):
    """Where the incremental roll-up got to: events up to id ``last_event_id`` and members created up to ``watermark``
    are in the roll-ups."""

    name = models.CharField(max_length=32, unique=True)
    watermark = models.DateTimeField(null=True, blank=True)
    last_event_id = models.BigIntegerField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    days_rebuilt = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("roll-up state")
        verbose_name_plural = _("roll-up states")

    def __str__(self) -> str:
        return f"{self.name} @ {self.watermark}"


class RfmSegment(models.TextChoices):
    CHAMPIONS = "champions", _("Champions")
    LOYAL = "loyal", _("Loyal")
    POTENTIAL = "potential", _("Potential loyalists")
    NEW = "new", _("New customers")
    AT_RISK = "at_risk", _("At risk")
    HIBERNATING = "hibernating", _("Hibernating")
    LOST = "lost", _("Lost")
    NO_PURCHASE = "no_purchase", _("No purchase in window")


class RfmScore(models.Model):
    """A member's recency, frequency and monetary quintiles (5 = best) over the scoring window, and its segment."""

    member = models.OneToOneField(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="rfm", primary_key=True)
    recency = models.PositiveSmallIntegerField(_("R"))
    frequency = models.PositiveSmallIntegerField(_("F"))
    monetary = models.PositiveSmallIntegerField(_("M"))
    segment = models.CharField(_("RFM segment"), max_length=20, choices=RfmSegment.choices, db_index=True)
    last_purchase_day = models.DateField(_("last purchase"), null=True, blank=True)
    purchases = models.PositiveIntegerField(_("purchases in window"), default=0)
    revenue = models.DecimalField(_("revenue in window (CNY)"), max_digits=14, decimal_places=2, default=0)
    lifetime_revenue = models.DecimalField(_("lifetime revenue (CNY)"), max_digits=16, decimal_places=2, default=0)
    last_active_day = models.DateField(_("last active"), null=True, blank=True)
    scored_at = models.DateTimeField(_("scored at"))

    class Meta:
        verbose_name = _("RFM score")
        verbose_name_plural = _("RFM scores")
        constraints = [
            models.CheckConstraint(
                condition=Q(recency__gte=1, recency__lte=5, frequency__gte=1, frequency__lte=5, monetary__gte=1, monetary__lte=5),
                name="rfm_scores_1_to_5",
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.recency}{self.frequency}{self.monetary} {self.segment}"


class MemberSummary(models.Model):
    """Members per slice and RFM segment with their lifetime revenue, written by each RFM scoring: what the dashboard's
    tier distribution, RFM segments and LTV read, instead of counting a million members per view."""

    id = models.BigAutoField(primary_key=True)
    tier_id = models.BigIntegerField()
    city = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=20, blank=True)
    segment = models.CharField(max_length=20, choices=RfmSegment.choices)
    members = models.PositiveIntegerField(default=0, db_default=0)
    lifetime_revenue = models.DecimalField(max_digits=18, decimal_places=2, default=0, db_default=0)

    class Meta:
        verbose_name = _("member summary")
        verbose_name_plural = _("member summaries")

    def __str__(self) -> str:
        return f"{self.tier_id}/{self.city}/{self.channel}/{self.segment}: {self.members}"
