import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.history import AuditHistory
from apps.core.models import TimeStampedModel
from apps.core.reasons import CodedReason
from apps.members.models import Member, PointsEntry, Tag, Tier

TICKET_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
TICKET_CODE_LENGTH = 10  # 50 bits: typed at the door, never guessed


def generate_ticket_code() -> str:
    return "".join(secrets.choice(TICKET_ALPHABET) for _ in range(TICKET_CODE_LENGTH))


class JoinPolicy(models.TextChoices):
    OPEN = "open", _("Open: anyone joins")
    APPROVAL = "approval", _("By approval: an organiser decides")
    RULE = "rule", _("By rule: members who qualify join")


class ClubRole(models.TextChoices):
    MEMBER = "member", _("Member")
    ORGANISER = "organiser", _("Organiser")


class Club(TimeStampedModel):
    """A community of members (车友会 / 社群), by city or by interest."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    city = models.CharField(_("city"), max_length=64, blank=True, db_index=True)
    interest = models.CharField(_("interest"), max_length=64, blank=True)
    description = models.TextField(_("description"), blank=True)
    organiser_members = models.ManyToManyField(Member, verbose_name=_("organisers (members)"), blank=True, related_name="organised_clubs")
    organiser_staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("organisers (staff)"), blank=True, related_name="organised_clubs"
    )
    join_policy = models.CharField(_("join policy"), max_length=10, choices=JoinPolicy.choices, default=JoinPolicy.OPEN)
    max_members = models.PositiveIntegerField(_("member limit"), null=True, blank=True, help_text=_("Empty: no limit."))
    # "By rule": a member qualifies when every rule that is set holds (empty rules are not checked).
    rule_tiers = models.ManyToManyField(
        Tier, verbose_name=_("rule: tiers"), blank=True, related_name="+", help_text=_("The member's tier is one of these.")
    )
    rule_cities = models.CharField(
        _("rule: cities"), max_length=255, blank=True, help_text=_("Comma-separated; the member's city is one of these.")
    )
    rule_tags = models.ManyToManyField(
        Tag, verbose_name=_("rule: tags"), blank=True, related_name="+", help_text=_("The member has at least one of these tags.")
    )
    # A saved segment of the campaigns app, by id: events cannot point a foreign key at a higher-or-equal app.
    rule_segment_id = models.PositiveIntegerField(
        _("rule: segment"), null=True, blank=True, help_text=_("The member is in this saved segment now.")
    )
    history = AuditHistory(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = _("club")
        verbose_name_plural = _("clubs")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def rule_city_list(self) -> list[str]:
        return [city.strip() for city in self.rule_cities.replace("，", ",").split(",") if city.strip()]


class JoinedVia(models.TextChoices):
    OPEN = "open", _("Joined (open club)")
    APPROVAL = "approval", _("Request approved")
    RULE = "rule", _("Qualified by rule")
    STAFF = "staff", _("Added by staff")


class ClubMembership(models.Model):
    """One stay of a member in a club: leaving closes it (``left_at``), rejoining opens a new one, so the rows are the
    member's club history; role changes are in the audit history."""

    club = models.ForeignKey(Club, verbose_name=_("club"), on_delete=models.CASCADE, related_name="memberships")
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="club_memberships")
    role = models.CharField(_("role"), max_length=10, choices=ClubRole.choices, default=ClubRole.MEMBER)
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now)
    joined_via = models.CharField(_("joined through"), max_length=10, choices=JoinedVia.choices, default=JoinedVia.OPEN)
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("removed by"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True, help_text=_("Why staff added or removed the member."))
    history = AuditHistory()

    class Meta:
        verbose_name = _("club membership")
        verbose_name_plural = _("club memberships")
        constraints = [
            models.UniqueConstraint(fields=["club", "member"], condition=Q(left_at__isnull=True), name="club_membership_one_active"),
        ]
        indexes = [models.Index(fields=["member", "left_at"], name="club_membership_member_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} in {self.club_id}"


class JoinRequestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    DECLINED = "declined", _("Declined")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class ClubJoinRequest(models.Model):
    """A member's request to join a club "by approval", decided once by an organiser (member or staff)."""

    club = models.ForeignKey(Club, verbose_name=_("club"), on_delete=models.CASCADE, related_name="join_requests")
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="club_join_requests")
    status = models.CharField(_("status"), max_length=10, choices=JoinRequestStatus.choices, default=JoinRequestStatus.PENDING)
    message = models.CharField(_("message"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("requested at"), default=timezone.now, db_index=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by_staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by (staff)"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by_member = models.ForeignKey(
        Member, verbose_name=_("decided by (organiser)"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("club join request")
        verbose_name_plural = _("club join requests")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["club", "member"], condition=Q(status="pending"), name="club_join_request_one_pending"),
        ]
        indexes = [models.Index(fields=["club", "status", "created_at"], name="club_join_request_queue_idx")]

    def __str__(self) -> str:
        return f"{self.member} → {self.club}"


class EventKind(models.TextChoices):
    OFFLINE = "offline", _("Offline")
    ONLINE = "online", _("Online")


class EventStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    CLOSED = "closed", _("Registration closed")
    FINISHED = "finished", _("Finished")
    CANCELLED = "cancelled", _("Cancelled")


class Event(TimeStampedModel):
    """A community event (社群活动 / 车主活动) members register for."""

    title = models.CharField(_("title"), max_length=150)
    description = models.TextField(_("description"), blank=True)
    cover = models.ImageField(_("cover image"), upload_to="events/covers/", blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=EventKind.choices, default=EventKind.OFFLINE)
    city = models.CharField(_("city"), max_length=64, blank=True, db_index=True)
    venue = models.CharField(_("venue"), max_length=200, blank=True)
    online_url = models.URLField(_("online link"), blank=True)
    starts_at = models.DateTimeField(_("starts at"), db_index=True)
    ends_at = models.DateTimeField(_("ends at"))
    registration_opens_at = models.DateTimeField(_("registration opens at"))
    registration_closes_at = models.DateTimeField(_("registration closes at"))
    cancellation_deadline = models.DateTimeField(_("free cancellation until"))
    capacity = models.PositiveIntegerField(_("capacity (seats, companions included)"))
    seats_taken = models.PositiveIntegerField(_("seats taken"), default=0, editable=False)
    eligible_tiers = models.ManyToManyField(
        Tier, verbose_name=_("eligible tiers"), blank=True, related_name="+", help_text=_("Empty: every tier.")
    )
    club = models.ForeignKey(Club, verbose_name=_("club"), on_delete=models.PROTECT, null=True, blank=True, related_name="events")
    members_only = models.BooleanField(
        _("club members only"), default=False, help_text=_("Only current members of the event's club can register.")
    )
    points_price = models.PositiveIntegerField(_("points to register"), default=0)
    attendance_points = models.PositiveIntegerField(_("points for attending"), default=0)
    max_companions = models.PositiveSmallIntegerField(_("companions per member"), default=0)
    status = models.CharField(_("status"), max_length=10, choices=EventStatus.choices, default=EventStatus.DRAFT, db_index=True)
    cancel_reason = models.CharField(_("cancellation reason"), max_length=255, blank=True)
    history = AuditHistory(
        excluded_fields=["updated_at", "seats_taken", "title_en", "title_zh_hans", "description_en", "description_zh_hans"]
    )

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(seats_taken__lte=F("capacity")), name="event_capacity_not_exceeded"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="event_ends_after_start"),
            models.CheckConstraint(condition=Q(registration_closes_at__gt=F("registration_opens_at")), name="event_window_positive"),
            models.CheckConstraint(condition=Q(members_only=False) | Q(club__isnull=False), name="event_members_only_needs_club"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def seats_left(self) -> int:
        return max(self.capacity - self.seats_taken, 0)


class RegistrationState(models.TextChoices):
    REGISTERED = "registered", _("Registered")
    WAITLISTED = "waitlisted", _("Waitlisted")
    CANCELLED = "cancelled", _("Cancelled")
    ATTENDED = "attended", _("Attended")
    NO_SHOW = "no_show", _("No-show")


class Registration(CodedReason):
    REASON_TEXT_FIELD = "cancel_reason"

    event = models.ForeignKey(Event, verbose_name=_("event"), on_delete=models.PROTECT, related_name="registrations")
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="event_registrations")
    companions = models.PositiveSmallIntegerField(_("companions"), default=0)
    state = models.CharField(_("state"), max_length=10, choices=RegistrationState.choices)
    ticket_code = models.CharField(
        _("ticket code"), max_length=TICKET_CODE_LENGTH, unique=True, default=generate_ticket_code, editable=False
    )
    payment = models.OneToOneField(
        PointsEntry, verbose_name=_("points paid"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    attendance_reward = models.OneToOneField(
        PointsEntry, verbose_name=_("attendance points"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("registered at"), default=timezone.now, db_index=True)
    promoted_at = models.DateTimeField(_("promoted from waitlist at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("cancellation reason"), max_length=255, blank=True)
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)

    class Meta:
        verbose_name = _("registration")
        verbose_name_plural = _("registrations")
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "member"], condition=~Q(state="cancelled"), name="registration_one_per_member"),
        ]
        indexes = [
            models.Index(fields=["event", "state", "created_at"], name="registration_event_state_idx"),
            # The member's timeline: registrations and check-ins, newest first.
            models.Index(fields=["member", "created_at", "id"], name="registration_member_idx"),
            models.Index(
                fields=["member", "checked_in_at", "id"], condition=Q(checked_in_at__isnull=False), name="registration_checkin_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member} @ {self.event}"

    @property
    def seats(self) -> int:
        return 1 + self.companions
