import secrets

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.core.history import AuditHistory
from apps.core.models import ApiClient, TimeStampedModel, hash_secret
from apps.core.reasons import CodedReason


class Tier(models.Model):
    """A level of the programme. ``rank`` orders tiers; ``threshold`` is the rolling growth value needed."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=64)
    description = models.TextField(_("description"), blank=True)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True, help_text=_("Higher rank is a better tier."))
    threshold = models.PositiveIntegerField(_("growth value threshold"), help_text=_("Rolling growth value needed to reach this tier."))
    points_multiplier = models.DecimalField(
        _("points multiplier"), max_digits=4, decimal_places=2, default=1, help_text=_("Applied to earned points.")
    )
    # Further conditions, each optional; a member qualifies when the growth value and every condition set here hold
    # (docs/rules.md, "Growth value and tiers"). Their figures come from the tier metrics analytics registers.
    min_purchases = models.PositiveIntegerField(
        _("purchases in the window"),
        null=True,
        blank=True,
        help_text=_("At least this many purchases in the rolling window (empty: no condition)."),
    )
    min_spend = models.DecimalField(
        _("spend in the window (CNY)"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("At least this much spent in the rolling window (empty: no condition)."),
    )
    rfm_segments = models.JSONField(
        _("RFM segments"), default=list, blank=True, help_text=_("The member's RFM segment must be one of these (empty: no condition).")
    )
    invitation_only = models.BooleanField(
        _("invitation only"), default=False, help_text=_("Reached only when staff assign a member to it, never by qualifying.")
    )
    # modeltranslation adds the per-language columns after the history model is built, so they are left out of it.
    history = AuditHistory(excluded_fields=["name_en", "name_zh_hans", "description_en", "description_zh_hans"])

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(condition=Q(points_multiplier__gt=0), name="tier_multiplier_positive"),
            models.CheckConstraint(condition=Q(min_spend__isnull=True) | Q(min_spend__gte=0), name="tier_min_spend_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Gender(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")


class SourceChannel(models.TextChoices):
    APP = "app", _("Member app")
    MINI_PROGRAM = "mini_program", _("Mini-programme")
    STORE = "store", _("Store")
    DEALER = "dealer", _("Dealer")
    EVENT = "event", _("Event")
    REFERRAL = "referral", _("Referral")
    IMPORT = "import", _("Import")
    STAFF = "staff", _("Back office")


class MemberStatus(models.TextChoices):
    # A person we know of (a lead) who has not enrolled in the programme: no points, no tier progress, no campaigns.
    PROSPECT = "prospect", _("Prospect")
    ACTIVE = "active", _("Active")
    FROZEN = "frozen", _("Frozen")
    CLOSED = "closed", _("Closed")


class Member(TimeStampedModel):
    external_id = models.CharField(_("external ID"), max_length=64, unique=True, null=True, blank=True)
    name = models.CharField(pgettext_lazy("person", "name"), max_length=100)
    phone = models.CharField(_("mobile phone"), max_length=20, unique=True, null=True, blank=True, help_text=_("Stored in E.164 format."))
    email = models.EmailField(_("email"), blank=True, db_index=True)
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, default=Gender.UNKNOWN)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    city = models.CharField(_("city"), max_length=64, blank=True, db_index=True)
    source_channel = models.CharField(
        _("source channel"), max_length=20, choices=SourceChannel.choices, default=SourceChannel.APP, db_index=True
    )
    status = models.CharField(_("status"), max_length=10, choices=MemberStatus.choices, default=MemberStatus.ACTIVE, db_index=True)
    status_reason = models.CharField(_("status reason"), max_length=255, blank=True)
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now, db_index=True)
    tier = models.ForeignKey(Tier, verbose_name=_("tier"), on_delete=models.PROTECT, related_name="members")
    tier_achieved_at = models.DateTimeField(_("tier reached at"), default=timezone.now)
    tier_assigned_until = models.DateTimeField(
        _("tier assigned until"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Staff assigned the tier: the nightly evaluation does not demote the member before this time."),
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="members")
    anonymised_at = models.DateTimeField(_("anonymised at"), null=True, blank=True, editable=False)
    # Set when this member was merged into another (a duplicate): the record stays, closed, and answers with the survivor.
    merged_into = models.ForeignKey(
        "self", verbose_name=_("merged into"), on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+"
    )
    history = AuditHistory(excluded_fields=["updated_at"], m2m_fields=[tags])

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["-id"]
        permissions = [
            ("view_member_pii", _("Can see members' full phone, email and birthday")),
            ("adjust_points", _("Can adjust members' points within the customer-service limit")),
            ("adjust_points_unlimited", _("Can adjust members' points without limit")),
            ("adjust_growth", _("Can adjust members' growth value within the customer-service limit")),
            ("adjust_growth_unlimited", _("Can adjust members' growth value without limit")),
            ("assign_tier", _("Can assign a member to a tier (invitation-only tiers too) until an end date")),
            ("export_member", _("Can export members")),
            ("export_member_data", _("Can export a member's personal data on request (PIPL)")),
            ("anonymise_member", _("Can anonymise a member on request (PIPL)")),
            ("merge_member", _("Can merge duplicate members")),
        ]
        indexes = [
            models.Index(fields=["tier", "status"], name="member_tier_status_idx"),
            models.Index(fields=["name"], name="member_name_idx", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active_member(self) -> bool:
        return self.status == MemberStatus.ACTIVE

    @property
    def growth_value(self) -> int:
        """The rolling growth value kept in ``GrowthValue``; select ``growth`` with a list of members to read it."""
        try:
            return self.growth.value
        except ObjectDoesNotExist:
            return 0


class ConsentChannel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")
    PUSH = "push", _("App push")
    OFFICIAL_ACCOUNT = "official_account", _("WeChat official account")
    MINI_PROGRAM = "mini_program", _("WeChat mini-program")
    WECOM = "wecom", _("WeCom adviser")


# Long enough for every channel code above (``official_account`` is 16).
CHANNEL_MAX_LENGTH = 32


class Consent(models.Model):
    """Marketing consent of one member for one channel; its history keeps every grant and withdrawal."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(_("channel"), max_length=CHANNEL_MAX_LENGTH, choices=ConsentChannel.choices)
    granted = models.BooleanField(_("granted"))
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)
    source = models.CharField(_("source"), max_length=32, blank=True)
    history = AuditHistory()

    class Meta:
        verbose_name = _("marketing consent")
        verbose_name_plural = _("marketing consents")
        constraints = [models.UniqueConstraint(fields=["member", "channel"], name="consent_unique_member_channel")]
        indexes = [models.Index(fields=["channel", "granted"], name="consent_channel_granted_idx")]

    def __str__(self) -> str:
        return f"{self.member_id}:{self.channel}={self.granted}"


class TierChangeKind(models.TextChoices):
    INITIAL = "initial", _("Enrolment")
    PROMOTION = "promotion", _("Promotion")
    DEMOTION = "demotion", _("Demotion")
    ASSIGNMENT = "assignment", _("Assigned by staff")


class TierChange(CodedReason):
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="tier_changes")
    kind = models.CharField(_("kind"), max_length=10, choices=TierChangeKind.choices)
    from_tier = models.ForeignKey(Tier, verbose_name=_("from tier"), on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    to_tier = models.ForeignKey(Tier, verbose_name=_("to tier"), on_delete=models.PROTECT, related_name="+")
    growth_value = models.IntegerField(_("growth value"))
    reason = models.CharField(_("reason"), max_length=255)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["member", "-created_at"], name="tierchange_member_idx")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_tier_id} → {self.to_tier_id}"


class GrowthEntry(CodedReason):
    """Growth value earned (or taken back); tiers look at the sum over a rolling window."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="growth_entries")
    amount = models.IntegerField(_("amount"))
    reason = models.CharField(_("reason"), max_length=255)
    source_ref = models.CharField(_("source reference"), max_length=128, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("growth value entry")
        verbose_name_plural = _("growth value entries")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["member", "created_at"], name="growth_member_created_idx")]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="growth_amount_nonzero")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.amount:+d}"


class GrowthValue(models.Model):
    """The member's rolling growth value as of the last change or evaluation (no row: none earned yet).

    Kept beside the member, as a points balance is kept in its account: a growth award rewrites this narrow row and
    not the member's, which carries twenty indexes. Written only by the tier services, under the member's lock."""

    member = models.OneToOneField(Member, verbose_name=_("member"), on_delete=models.CASCADE, primary_key=True, related_name="growth")
    value = models.IntegerField(_("growth value"), default=0)

    class Meta:
        verbose_name = _("growth value")
        verbose_name_plural = _("growth values")

    def __str__(self) -> str:
        return f"{self.member_id}: {self.value}"


class PointsAccount(models.Model):
    """The member's points balance; equal, always, to the sum of its ledger entries."""

    member = models.OneToOneField(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="points_account")
    balance = models.IntegerField(_("balance"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("points account")
        verbose_name_plural = _("points accounts")
        constraints = [models.CheckConstraint(condition=Q(balance__gte=0), name="points_balance_not_negative")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.balance}"


class PointsEntryKind(models.TextChoices):
    EARN = "earn", _("Earn")
    SPEND = "spend", _("Spend")
    EXPIRE = "expire", _("Expire")
    ADJUST = "adjust", _("Adjustment")
    REVERSE = "reverse", _("Reversal")
    MIGRATE = "migrate", _("Migrated balance")


class PointsEntry(CodedReason):
    """One row of the append-only points ledger. Never updated or deleted; a reversal is a new row."""

    account = models.ForeignKey(PointsAccount, verbose_name=_("account"), on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(_("kind"), max_length=10, choices=PointsEntryKind.choices, db_index=True)
    amount = models.IntegerField(_("amount"))
    balance_after = models.IntegerField(_("balance after"))
    reason = models.CharField(_("reason"), max_length=255)
    source_ref = models.CharField(_("source reference"), max_length=128, blank=True, db_index=True)
    # Set by a caller that may repeat a credit (a journey's points step redone after a crash): one row per key, ever.
    idempotency_key = models.CharField(_("idempotency key"), max_length=128, blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by staff"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    client = models.ForeignKey(ApiClient, verbose_name=_("by system"), on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    reverses = models.OneToOneField(
        "self", verbose_name=_("reverses"), on_delete=models.PROTECT, null=True, blank=True, related_name="reversal"
    )
    created_at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("points ledger entry")
        verbose_name_plural = _("points ledger")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at", "-id"], name="points_entry_account_idx")]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], condition=~Q(idempotency_key=""), name="points_entry_once_per_key"),
            models.CheckConstraint(condition=~Q(amount=0), name="points_entry_amount_nonzero"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="points_entry_balance_not_negative"),
            models.CheckConstraint(
                condition=Q(kind__in=["earn", "migrate"], amount__gt=0)
                | Q(kind__in=["spend", "expire"], amount__lt=0)
                | Q(kind__in=["adjust", "reverse"]),
                name="points_entry_sign_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+d}"

    @property
    def is_credit(self) -> bool:
        return self.amount > 0


class AdjustmentState(models.TextChoices):
    APPLIED = "applied", _("Applied")
    PENDING = "pending", _("Waiting for approval")
    APPROVED = "approved", _("Approved and applied")
    REJECTED = "rejected", _("Rejected")


class PointsAdjustment(models.Model):
    """A staff member's points correction: applied at once within their daily allowance, else waiting for a second person.

    Only an applied or approved adjustment has a ledger entry; the ledger itself is written by the points services.
    """

    member = models.ForeignKey("Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="points_adjustments")
    amount = models.IntegerField(_("points"))
    reason = models.CharField(_("reason"), max_length=255)
    state = models.CharField(_("state"), max_length=10, choices=AdjustmentState.choices, db_index=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("requested by"), on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=255, blank=True)
    entry = models.OneToOneField(
        PointsEntry, verbose_name=_("ledger entry"), on_delete=models.PROTECT, null=True, blank=True, related_name="adjustment"
    )
    history = AuditHistory()

    class Meta:
        verbose_name = _("points adjustment")
        verbose_name_plural = _("points adjustments")
        ordering = ["-requested_at", "-id"]
        permissions = [("approve_pointsadjustment", _("Can approve or reject points adjustments above a staff member's daily limit"))]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="points_adjustment_amount_nonzero"),
            models.CheckConstraint(condition=~Q(decided_by=F("requested_by")), name="points_adjustment_decided_by_another"),
            models.CheckConstraint(
                condition=Q(state__in=["applied", "approved"], entry__isnull=False)
                | Q(state__in=["pending", "rejected"], entry__isnull=True),
                name="points_adjustment_entry_matches_state",
            ),
        ]
        indexes = [models.Index(fields=["requested_by", "state", "requested_at"], name="points_adj_staff_day_idx")]

    def __str__(self) -> str:
        return f"{self.member} {self.amount:+d} ({self.get_state_display()})"


class GrowthAdjustment(models.Model):
    """A staff member's growth-value correction, as for points: applied at once within their daily allowance, else
    waiting for a second person. Only an applied or approved one has a growth entry, written by the ledger."""

    member = models.ForeignKey("Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="growth_adjustments")
    amount = models.IntegerField(_("growth value"))
    reason = models.CharField(_("reason"), max_length=255)
    state = models.CharField(_("state"), max_length=10, choices=AdjustmentState.choices, db_index=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("requested by"), on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=255, blank=True)
    entry = models.OneToOneField(
        GrowthEntry, verbose_name=_("growth entry"), on_delete=models.PROTECT, null=True, blank=True, related_name="adjustment"
    )
    history = AuditHistory()

    class Meta:
        verbose_name = _("growth value adjustment")
        verbose_name_plural = _("growth value adjustments")
        ordering = ["-requested_at", "-id"]
        permissions = [("approve_growthadjustment", _("Can approve or reject growth value adjustments above a staff member's daily limit"))]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="growth_adjustment_amount_nonzero"),
            models.CheckConstraint(condition=~Q(decided_by=F("requested_by")), name="growth_adjustment_decided_by_another"),
            models.CheckConstraint(
                condition=Q(state__in=["applied", "approved"], entry__isnull=False)
                | Q(state__in=["pending", "rejected"], entry__isnull=True),
                name="growth_adjustment_entry_matches_state",
            ),
        ]
        indexes = [models.Index(fields=["requested_by", "state", "requested_at"], name="growth_adj_staff_day_idx")]

    def __str__(self) -> str:
        return f"{self.member} {self.amount:+d} ({self.get_state_display()})"


class TierAssignment(models.Model):
    """Staff put a member on a tier (an invitation-only one, or any) with a reason, until an end date.

    Until ``ends_at`` the nightly evaluation never demotes the member; afterwards the normal rules apply. The
    member's ``tier_assigned_until`` carries the end date the evaluation reads; this row keeps who, why and when.
    """

    member = models.ForeignKey("Member", verbose_name=_("member"), on_delete=models.PROTECT, related_name="tier_assignments")
    tier = models.ForeignKey(Tier, verbose_name=_("tier"), on_delete=models.PROTECT, related_name="+")
    from_tier = models.ForeignKey(Tier, verbose_name=_("from tier"), on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=255)
    ends_at = models.DateTimeField(_("until"))
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("assigned by"), on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("assigned at"), default=timezone.now, db_index=True)
    history = AuditHistory()

    class Meta:
        verbose_name = _("tier assignment")
        verbose_name_plural = _("tier assignments")
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=F("created_at")), name="tier_assignment_ends_after_start")]
        indexes = [models.Index(fields=["member", "-created_at"], name="tier_assignment_member_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} → {self.tier_id} until {self.ends_at:%Y-%m-%d}"


class PointsLot(models.Model):
    """Points credited together with one expiry; spending consumes the earliest-expiring lots first."""

    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="lots")
    entry = models.OneToOneField(PointsEntry, on_delete=models.PROTECT, related_name="lot")
    amount = models.PositiveIntegerField()
    remaining = models.PositiveIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("points lot")
        verbose_name_plural = _("points lots")
        constraints = [models.CheckConstraint(condition=Q(remaining__lte=F("amount")), name="points_lot_remaining_lte_amount")]
        indexes = [
            models.Index(fields=["account", "expires_at"], condition=Q(remaining__gt=0), name="points_lot_open_idx"),
            models.Index(fields=["expires_at"], condition=Q(remaining__gt=0), name="points_lot_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.amount}"


class PointsLotUse(models.Model):
    """How many points of which lot a debit entry took; a reversal of the debit gives them back."""

    entry = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, related_name="lot_uses")
    lot = models.ForeignKey(PointsLot, on_delete=models.PROTECT, related_name="uses")
    amount = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entry", "lot"], name="points_lot_use_unique")]

    def __str__(self) -> str:
        return f"{self.amount} from lot {self.lot_id}"


class MemberToken(models.Model):
    """A short-lived, revocable token the member app's backend obtains for one member after its own login."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="tokens")
    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("member token")
        verbose_name_plural = _("member tokens")

    def __str__(self) -> str:
        return f"token of {self.member_id}"

    @staticmethod
    def generate() -> tuple[str, str]:
        raw = secrets.token_urlsafe(32)
        return raw, hash_secret(raw)

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_valid(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class TagChangeAction(models.TextChoices):
    ADDED = "added", _("Added")
    REMOVED = "removed", _("Removed")


class TagChangeSource(models.TextChoices):
    STAFF = "staff", _("Staff on the member form")
    ENROLMENT = "enrolment", _("Enrolment")
    JOB = "job", _("Tag job")
    AUTO_RULE = "auto_rule", _("Auto-tag rule")
    MERGE = "merge", _("Merge")
    JOURNEY = "journey", _("Journey step")


class TagChange(models.Model):
    """One tag added to or removed from one member: written with the change itself by ``services.tags`` only."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="tag_changes")
    tag = models.ForeignKey(Tag, verbose_name=_("tag"), on_delete=models.CASCADE, related_name="changes")
    action = models.CharField(_("action"), max_length=10, choices=TagChangeAction.choices)
    source = models.CharField(_("source"), max_length=20, choices=TagChangeSource.choices)
    # What did it, beyond the source: "job 12", "rule 3" — never personal data.
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("tag change")
        verbose_name_plural = _("tag history")
        ordering = ["-at", "-id"]
        # The member's timeline reads newest first from here.
        indexes = [models.Index(fields=["member", "-at", "-id"], name="tag_change_member_at_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.tag_id} on {self.member_id}"


class DuplicateReason(models.TextChoices):
    EMAIL = "email", _("Same email")
    PHONE = "phone", _("Same phone in another form")
    EXTERNAL_ID = "external_id", _("Same external ID in another form")
    IDENTITY = "identity", _("Same WeChat or channel identity")
    NAME_CITY = "name_city", _("Similar name in the same city")


class DuplicateState(models.TextChoices):
    OPEN = "open", _("To decide")
    DISMISSED = "dismissed", _("Dismissed")
    MERGED = "merged", _("Merged")


class DuplicateCandidate(models.Model):
    """Two members that look like one person, found by the duplicates job; one row per pair (lower id first)."""

    member_a = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="+")
    member_b = models.ForeignKey(Member, verbose_name=_("possible duplicate"), on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(_("reason"), max_length=20, choices=DuplicateReason.choices)
    # 0–100: how sure the finder is (an exact identifier is 100, a name similarity its trigram score).
    score = models.PositiveSmallIntegerField(_("score"))
    state = models.CharField(_("state"), max_length=10, choices=DuplicateState.choices, default=DuplicateState.OPEN, db_index=True)
    found_at = models.DateTimeField(_("found at"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("possible duplicate")
        verbose_name_plural = _("possible duplicates")
        ordering = ["-score", "id"]
        constraints = [
            models.UniqueConstraint(fields=["member_a", "member_b"], name="duplicate_pair_unique"),
            models.CheckConstraint(condition=Q(member_a__lt=F("member_b")), name="duplicate_pair_ordered"),
            models.CheckConstraint(condition=Q(score__lte=100), name="duplicate_score_at_most_100"),
        ]
        indexes = [models.Index(fields=["member_b"], name="duplicate_member_b_idx")]

    def __str__(self) -> str:
        return f"{self.member_a_id} ~ {self.member_b_id}"


class MemberMerge(models.Model):
    """The audit record of one merge: who, when, what was chosen, what moved, and the merged member as it was."""

    survivor = models.ForeignKey(Member, verbose_name=_("survivor"), on_delete=models.PROTECT, related_name="merges_received")
    merged = models.OneToOneField(Member, verbose_name=_("merged member"), on_delete=models.PROTECT, related_name="merge")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.PROTECT, related_name="+")
    merged_at = models.DateTimeField(_("merged at"), default=timezone.now)
    choices = models.JSONField(_("choices"), default=dict, blank=True)
    moved = models.JSONField(_("rows moved"), default=dict, blank=True)
    merged_snapshot = models.JSONField(_("merged member's identity"), default=dict, blank=True)

    class Meta:
        verbose_name = _("member merge")
        verbose_name_plural = _("member merges")
        ordering = ["-merged_at", "-id"]

    def __str__(self) -> str:
        return f"{self.merged_id} → {self.survivor_id}"
