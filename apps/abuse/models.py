"""Abuse control (防刷): velocity limits on activity and a blocklist, both read by the award screen."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.analytics.models import ActivityKind
from apps.core.history import AuditHistory
from apps.members.models import Member

MAX_WINDOW_MINUTES = 7 * 24 * 60


class Scope(models.TextChoices):
    """What a velocity limit counts per: the member, the device the app reported, or the client address."""

    MEMBER = "member", _("Member")
    DEVICE = "device", _("Device ID")
    ADDRESS = "address", _("Client address")


class VelocityLimit(models.Model):
    """More than ``max_events`` activities (of ``kind``, or of any kind) per scope value within ``window_minutes``:
    the awards for the events beyond the limit are held for review."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    scope = models.CharField(_("counted per"), max_length=10, choices=Scope.choices)
    kind = models.CharField(
        _("activity kind"), max_length=20, choices=ActivityKind.choices, blank=True, help_text=_("Empty: activities of every kind count.")
    )
    max_events = models.PositiveIntegerField(
        _("allowed events"),
        validators=[MinValueValidator(1)],
        help_text=_("This many events in the window are paid; the next one is held."),
    )
    window_minutes = models.PositiveIntegerField(
        _("window (minutes)"),
        validators=[MinValueValidator(1), MaxValueValidator(MAX_WINDOW_MINUTES)],
        help_text=_("At most a week (10080)."),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = AuditHistory()

    class Meta:
        verbose_name = _("velocity limit")
        verbose_name_plural = _("velocity limits")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(max_events__gte=1), name="abuse_limit_allows_one"),
            models.CheckConstraint(
                condition=Q(window_minutes__gte=1, window_minutes__lte=MAX_WINDOW_MINUTES), name="abuse_limit_window_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class BlockKind(models.TextChoices):
    MEMBER = "member", _("Member")
    DEVICE = "device", _("Device ID")
    ADDRESS = "address", _("Client address or network")


class BlockEntry(models.Model):
    """One member, device or address range whose awards are held while the entry lasts (``until`` empty: until lifted).

    An address entry keeps its range as two 32-digit hexadecimal numbers in one address space (IPv4 as IPv4-mapped
    IPv6), so that an address matches by plain text comparison on PostgreSQL and on SQLite alike.
    """

    kind = models.CharField(_("kind"), max_length=10, choices=BlockKind.choices)
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, null=True, blank=True, related_name="abuse_blocks"
    )
    device_id = models.CharField(_("device ID"), max_length=64, blank=True)
    network = models.CharField(_("address or network"), max_length=49, blank=True, help_text=_("An address, or a network in CIDR form."))
    range_start = models.CharField(max_length=32, blank=True, editable=False)
    range_end = models.CharField(max_length=32, blank=True, editable=False)
    is_network = models.BooleanField(default=False, editable=False)
    reason = models.CharField(_("reason"), max_length=200)
    until = models.DateTimeField(_("blocked until"), null=True, blank=True, help_text=_("Empty: until lifted."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("blocked by"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("blocked at"), auto_now_add=True)

    history = AuditHistory()

    class Meta:
        verbose_name = _("blocklist entry")
        verbose_name_plural = _("blocklist")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="member", member__isnull=False, device_id="", network="") | ~Q(kind="member")),
                name="abuse_block_member_shape",
            ),
            models.CheckConstraint(
                condition=(Q(kind="device", member__isnull=True, network="") & ~Q(device_id="")) | ~Q(kind="device"),
                name="abuse_block_device_shape",
            ),
            models.CheckConstraint(
                condition=(Q(kind="address", member__isnull=True, device_id="") & ~Q(network="") & ~Q(range_start="") & ~Q(range_end=""))
                | ~Q(kind="address"),
                name="abuse_block_address_shape",
            ),
        ]
        indexes = [
            models.Index(fields=["device_id"], name="abuse_block_device_idx", condition=Q(kind="device")),
            models.Index(fields=["range_start"], name="abuse_block_address_idx", condition=Q(kind="address")),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.target}"

    @property
    def target(self) -> str:
        if self.kind == BlockKind.MEMBER:
            return f"#{self.member_id}"
        return self.device_id if self.kind == BlockKind.DEVICE else self.network
