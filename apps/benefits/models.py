import secrets
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.core.history import AuditHistory
from apps.core.models import ApiClient, TimeStampedModel
from apps.members.models import Member, PointsEntry, Tier

# Unambiguous characters (no 0/O, 1/I/L): 32 symbols, 16 of them = 80 bits — not guessable.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 16


def generate_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


# A random byte below the largest multiple of the alphabet's size picks a character (byte mod size), so every
# character stays equally likely; the bytes above it are dropped.
_CODE_BYTES_USABLE = 256 - 256 % len(CODE_ALPHABET)
_CODE_BYTE_TABLE = bytes(ord(CODE_ALPHABET[byte % len(CODE_ALPHABET)]) for byte in range(256))
_CODE_BYTES_DROPPED = bytes(range(_CODE_BYTES_USABLE, 256))


def generate_codes(count: int) -> list[str]:
    """``count`` codes as unguessable as ``generate_code``'s, drawn from the system's random source in bulk."""
    needed = count * CODE_LENGTH
    characters = b""
    while len(characters) < needed:
        characters += secrets.token_bytes(needed - len(characters) + needed // 16 + 16).translate(_CODE_BYTE_TABLE, _CODE_BYTES_DROPPED)
    text = characters.decode("ascii")
    return [text[start : start + CODE_LENGTH] for start in range(0, needed, CODE_LENGTH)]


def normalize_code(raw: str) -> str:
    return "".join(ch for ch in (raw or "").upper() if ch.isalnum())


class BenefitCategory(models.TextChoices):
    ECONOMIC = "economic", _("Economic (经济权益)")
    SERVICE = "service", _("Service (服务权益)")
    STATUS = "status", _("Status (精神权益)")


class BenefitKind(models.TextChoices):
    FIXED_COUPON = "fixed_coupon", _("Fixed-amount coupon")
    PERCENT_DISCOUNT = "percent_discount", _("Percentage discount")
    CASHBACK = "cashback", _("Cashback")
    FREE_PRODUCT = "free_product", _("Free product")
    PRIORITY_SUPPORT = "priority_support", _("Priority support")
    FREE_UPGRADE = "free_upgrade", _("Free upgrade or maintenance")
    EXCLUSIVE_ACCESS = "exclusive_access", _("Exclusive access")
    TITLE = "title", _("Title")
    BADGE = "badge", _("Badge")
    EXCLUSIVE_CONTENT = "exclusive_content", _("Exclusive content")


KIND_CATEGORY = {
    BenefitKind.FIXED_COUPON: BenefitCategory.ECONOMIC,
    BenefitKind.PERCENT_DISCOUNT: BenefitCategory.ECONOMIC,
    BenefitKind.CASHBACK: BenefitCategory.ECONOMIC,
    BenefitKind.FREE_PRODUCT: BenefitCategory.ECONOMIC,
    BenefitKind.PRIORITY_SUPPORT: BenefitCategory.SERVICE,
    BenefitKind.FREE_UPGRADE: BenefitCategory.SERVICE,
    BenefitKind.EXCLUSIVE_ACCESS: BenefitCategory.SERVICE,
    BenefitKind.TITLE: BenefitCategory.STATUS,
    BenefitKind.BADGE: BenefitCategory.STATUS,
    BenefitKind.EXCLUSIVE_CONTENT: BenefitCategory.STATUS,
}


# Status marks (精神权益 a member keeps): a grant of one is the member's badge or title. It never expires unless the
# benefit sets a validity, and it is never redeemed like a coupon.
STATUS_MARK_KINDS = frozenset({BenefitKind.TITLE.value, BenefitKind.BADGE.value})
# The validity end of a status mark that never expires (far enough to never come, near enough for every time zone).
PERMANENT_UNTIL = datetime(2999, 12, 31, tzinfo=UTC)


class BenefitStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    ARCHIVED = "archived", _("Archived")


class LimitPeriod(models.TextChoices):
    MONTH = "month", _("Calendar month")
    YEAR = "year", _("Calendar year")


class Benefit(TimeStampedModel):
    """A 权益 in the catalogue: what a member gets, what it costs the brand, and the limits on giving it."""

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    category = models.CharField(_("category"), max_length=10, choices=BenefitCategory.choices, editable=False)
    kind = models.CharField(_("kind"), max_length=20, choices=BenefitKind.choices)
    face_value = models.DecimalField(_("face value (CNY)"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    discount_percent = models.PositiveSmallIntegerField(_("discount %"), null=True, blank=True)
    discount_cap = models.DecimalField(_("discount cap (CNY)"), max_digits=12, decimal_places=2, null=True, blank=True)
    unit_cost = models.DecimalField(_("unit cost to the brand (CNY)"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    validity_days = models.PositiveIntegerField(_("valid for days after grant"), null=True, blank=True)
    total_stock = models.PositiveIntegerField(_("total stock"), null=True, blank=True, help_text=_("Empty: unlimited."))
    issued_count = models.PositiveIntegerField(_("issued"), default=0, editable=False)
    budget = models.DecimalField(_("budget (CNY)"), max_digits=14, decimal_places=2, null=True, blank=True)
    cost_committed = models.DecimalField(
        _("cost committed (CNY)"), max_digits=14, decimal_places=2, default=Decimal("0.00"), editable=False
    )
    per_member_lifetime_limit = models.PositiveIntegerField(_("per member, lifetime"), null=True, blank=True)
    per_member_period_limit = models.PositiveIntegerField(_("per member, per period"), null=True, blank=True)
    limit_period = models.CharField(_("period"), max_length=5, choices=LimitPeriod.choices, default=LimitPeriod.MONTH)
    eligible_tiers = models.ManyToManyField(
        Tier, verbose_name=_("eligible tiers"), blank=True, related_name="+", help_text=_("Empty: every tier.")
    )
    points_price = models.PositiveIntegerField(
        _("points price (mall)"), null=True, blank=True, help_text=_("Empty: not sold in the points mall.")
    )
    status = models.CharField(_("status"), max_length=10, choices=BenefitStatus.choices, default=BenefitStatus.ACTIVE, db_index=True)
    history = AuditHistory(excluded_fields=["name_en", "name_zh_hans", "description_en", "description_zh_hans", "updated_at"])

    class Meta:
        verbose_name = _("benefit")
        verbose_name_plural = _("benefits")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_stock__isnull=True) | Q(issued_count__lte=F("total_stock")), name="benefit_stock_not_exceeded"
            ),
            models.CheckConstraint(
                condition=Q(budget__isnull=True) | Q(cost_committed__lte=F("budget")), name="benefit_budget_not_exceeded"
            ),
            models.CheckConstraint(
                condition=Q(validity_days__isnull=False) | Q(valid_until__isnull=False) | Q(kind__in=sorted(STATUS_MARK_KINDS)),
                name="benefit_has_validity",
            ),
            models.CheckConstraint(
                condition=Q(discount_percent__isnull=True) | Q(discount_percent__lte=100), name="benefit_percent_le_100"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def stock_left(self) -> int | None:
        return None if self.total_stock is None else self.total_stock - self.issued_count

    @property
    def value_density(self) -> Decimal | None:
        """Face value per 100 points when sold for points, else face value per yuan of cost."""
        if self.points_price:
            return (self.face_value * 100 / self.points_price).quantize(Decimal("0.01"))
        if self.unit_cost:
            return (self.face_value / self.unit_cost).quantize(Decimal("0.01"))
        return None


class GrantState(models.TextChoices):
    ISSUED = "issued", _("Issued")
    REDEEMED = "redeemed", _("Redeemed")
    EXPIRED = "expired", _("Expired")
    REVOKED = "revoked", _("Revoked")


class GrantSource(models.TextChoices):
    TIER_BENEFIT = "tier_benefit", _("Tier benefit")
    CAMPAIGN = "campaign", _("Campaign")
    POINTS_MALL = "points_mall", _("Points mall")
    STAFF = "staff", _("Staff")
    REFERRAL = "referral", _("Referral")
    EVENT = "event", _("Event")
    TASK = "task", _("Task")
    EARNING_RULE = "earning_rule", _("Earning rule")


class Grant(models.Model):
    """One benefit given to one member (权益发放), with an unguessable code."""

    benefit = models.ForeignKey(Benefit, verbose_name=_("benefit"), on_delete=models.PROTECT, related_name="grants")
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="grants")
    code = models.CharField(pgettext_lazy("grant", "code"), max_length=CODE_LENGTH, unique=True, default=generate_code, editable=False)
    state = models.CharField(_("state"), max_length=10, choices=GrantState.choices, default=GrantState.ISSUED)
    source = models.CharField(_("source"), max_length=15, choices=GrantSource.choices)
    source_ref = models.CharField(_("source reference"), max_length=128, blank=True)
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"))
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now, db_index=True)
    cost = models.DecimalField(_("cost (CNY)"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    points_entry = models.OneToOneField(
        PointsEntry, verbose_name=_("paid with"), on_delete=models.PROTECT, null=True, blank=True, related_name="grant"
    )
    revoke_reason = models.CharField(_("revoke reason"), max_length=255, blank=True)
    closed_at = models.DateTimeField(_("redeemed, expired or revoked at"), null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by staff"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    client = models.ForeignKey(ApiClient, verbose_name=_("by system"), on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("grant")
        verbose_name_plural = _("grants")
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["benefit", "member", "source", "source_ref"], condition=~Q(source_ref=""), name="grant_once_per_source_ref"
            ),
            models.CheckConstraint(condition=Q(valid_until__gt=F("valid_from")), name="grant_validity_positive"),
        ]
        indexes = [
            models.Index(fields=["member", "state"], name="grant_member_state_idx"),
            # The member's timeline pages through their grants newest first.
            models.Index(fields=["member", "issued_at", "id"], name="grant_member_issued_idx"),
            models.Index(fields=["benefit", "state"], name="grant_benefit_state_idx"),
            models.Index(fields=["valid_until"], condition=Q(state="issued"), name="grant_open_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.benefit} → {self.member_id}"

    @property
    def never_expires(self) -> bool:
        return self.valid_until >= PERMANENT_UNTIL

    @property
    def display_code(self) -> str:
        return "-".join(self.code[i : i + 4] for i in range(0, len(self.code), 4))


class PendingGrant(models.Model):
    """A grant an activity reaction decided on, waiting to be issued by a worker (``grants_pending_issue``).

    Written in the ingest's transaction instead of the grant itself, so an ingest never locks a benefit after the
    points accounts it has locked (the product's lock order puts the benefit first). Durable: a crash after the commit
    leaves the row, and the next sweep issues it; issuing is idempotent by (benefit, member, source, source_ref).
    """

    benefit = models.ForeignKey(Benefit, on_delete=models.CASCADE, related_name="+", db_index=False)
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+", db_index=False)
    source = models.CharField(max_length=15, choices=GrantSource.choices)
    source_ref = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["benefit", "member", "source", "source_ref"], name="pending_grant_once"),
        ]
        indexes = [models.Index(fields=["member"], name="pending_grant_member_idx")]

    def __str__(self) -> str:
        return f"{self.benefit_id} → {self.member_id} ({self.source_ref})"


class RedemptionChannel(models.TextChoices):
    POS = "pos", _("Store POS")
    DEALER = "dealer", _("Dealer system")
    APP = "app", _("Member app")
    STAFF = "staff", _("Back office")


class Redemption(models.Model):
    """A grant being used (核销): once, ever — the one-to-one makes a second redemption impossible."""

    grant = models.OneToOneField(Grant, verbose_name=_("grant"), on_delete=models.PROTECT, related_name="redemption")
    channel = models.CharField(_("channel"), max_length=10, choices=RedemptionChannel.choices)
    order_ref = models.CharField(_("order reference"), max_length=128, blank=True)
    redeemed_at = models.DateTimeField(_("redeemed at"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by staff"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    client = models.ForeignKey(ApiClient, verbose_name=_("by system"), on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-redeemed_at"]

    def __str__(self) -> str:
        return f"{self.grant_id} @ {self.channel}"


class Recurrence(models.TextChoices):
    ON_PROMOTION = "on_promotion", _("Once, on reaching the tier")
    MONTHLY = "monthly", _("Every month")
    YEARLY = "yearly", _("Every year")
    BIRTHDAY = "birthday", _("On the member's birthday")


class TierBenefit(models.Model):
    tier = models.ForeignKey(Tier, verbose_name=_("tier"), on_delete=models.CASCADE, related_name="tier_benefits")
    benefit = models.ForeignKey(Benefit, verbose_name=_("benefit"), on_delete=models.PROTECT, related_name="tier_benefits")
    recurrence = models.CharField(_("recurrence"), max_length=15, choices=Recurrence.choices)

    class Meta:
        verbose_name = _("tier benefit")
        verbose_name_plural = _("tier benefits")
        constraints = [models.UniqueConstraint(fields=["tier", "benefit", "recurrence"], name="tier_benefit_unique")]

    def __str__(self) -> str:
        return f"{self.tier}: {self.benefit} ({self.get_recurrence_display()})"
