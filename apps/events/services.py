"""Clubs, events, registrations, waitlist and check-in.

Every change to an event's seats takes the event's row lock first (then the member's points account, then
registrations, through ``apps.events.locks`` and ``apps.members.locks``), so capacity is counted by one writer
at a time; ``seats_taken <= capacity`` is also a database constraint.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.activity import activity_happened
from apps.core.errors import ApplicationError
from apps.core.models import ApiClient, User
from apps.core.outbox import EventType, outbox_emit_many
from apps.core.reasons import Reason, reason_fields, translated_param
from apps.core.saving import edited_fields_save
from apps.events.locks import (
    lock_active_membership,
    lock_club,
    lock_event,
    lock_join_request,
    lock_registration,
    lock_registrations,
)
from apps.events.models import (
    Club,
    ClubJoinRequest,
    ClubMembership,
    ClubRole,
    Event,
    EventStatus,
    JoinedVia,
    JoinPolicy,
    JoinRequestStatus,
    Registration,
    RegistrationState,
)
from apps.events.outbox_events import registration_event
from apps.events.selectors import club_rule_refusal
from apps.members import services as member_services
from apps.members.locks import lock_points_account, lock_points_accounts
from apps.members.models import Member, MemberStatus, Tag, Tier
from apps.messaging.models import MessagePurpose
from apps.messaging.services import message_enqueue, messages_enqueue_bulk

logger = logging.getLogger("userops.events")

TICKET_SALT = "userops.events.ticket"
PROMOTED_TEMPLATE, CANCELLED_TEMPLATE, REMINDER_TEMPLATE = "event_promoted", "event_cancelled", "event_reminder"
OPEN_STATES = (RegistrationState.REGISTERED, RegistrationState.WAITLISTED)


# Clubs ------------------------------------------------------------------------------------------
# Every change to a club's members takes the club's row lock first (the club stands where an event does in the lock
# order), so the member limit, the one-active-membership rule and a join request's single decision each have one
# writer at a time; the membership and request rows are locked after it.


@dataclass(frozen=True)
class JoinOutcome:
    """What a join asked for became: a membership (open, by rule) or a pending request (by approval)."""

    membership: ClubMembership | None = None
    request: ClubJoinRequest | None = None

    @property
    def state(self) -> str:
        return "joined" if self.membership is not None else "pending"


def _active_membership(club: Club, member: Member) -> ClubMembership | None:
    return lock_active_membership(club_id=club.pk, member_id=member.pk)


def _require_active_member(member: Member) -> None:
    if member.status != MemberStatus.ACTIVE:
        raise ApplicationError("member_not_active", _("The member's account is not active."), http_status=409)


def _require_room(club: Club) -> None:
    if club.max_members is not None and ClubMembership.objects.filter(club=club, left_at__isnull=True).count() >= club.max_members:
        raise ApplicationError("club_full", _("The club is full (%(count)d members).") % {"count": club.max_members}, http_status=409)


def _require_reason(reason: str) -> str:
    if not (reason or "").strip():
        raise ApplicationError("reason_required", _("A reason is required."), fields={"reason": _("A reason is required.")})
    return reason.strip()[:255]


def _open_membership(club: Club, member: Member, *, via: str, reason: str = "") -> ClubMembership:
    """The club is locked by the caller, which has checked the member is not in it."""
    _require_room(club)
    return ClubMembership.objects.create(club=club, member=member, joined_via=via, reason=reason)


@transaction.atomic
def club_join_request(*, club: Club, member: Member, message: str = "") -> JoinOutcome:
    """A member asks to join: an open club takes them in, a club "by rule" takes them in when they qualify (or refuses
    with the reason), a club "by approval" records one pending request for an organiser to decide."""
    club = lock_club(club_id=club.pk)
    member = Member.objects.get(pk=member.pk)
    _require_active_member(member)
    if _active_membership(club, member) is not None:
        raise ApplicationError("already_in_club", _("The member is already in this club."), http_status=409)
    if club.join_policy == JoinPolicy.APPROVAL:
        pending = ClubJoinRequest.objects.filter(club=club, member=member, status=JoinRequestStatus.PENDING).first()
        if pending is None:
            _require_room(club)
            pending = ClubJoinRequest.objects.create(club=club, member=member, message=(message or "").strip()[:255])
        return JoinOutcome(request=pending)
    if club.join_policy == JoinPolicy.RULE:
        refusal = club_rule_refusal(club=club, member=member)
        if refusal is not None:
            raise ApplicationError("club_rule_not_met", refusal, http_status=409)
        return JoinOutcome(membership=_open_membership(club, member, via=JoinedVia.RULE))
    return JoinOutcome(membership=_open_membership(club, member, via=JoinedVia.OPEN))


def is_club_organiser(*, club: Club, member: Member) -> bool:
    return ClubMembership.objects.filter(club=club, member=member, left_at__isnull=True, role=ClubRole.ORGANISER).exists()


def _lock_pending(join_request: ClubJoinRequest, *, staff: User | None, organiser: Member | None) -> tuple[Club, ClubJoinRequest]:
    if (staff is None) == (organiser is None):
        raise ValueError("a join request is decided by one staff user or one organiser")
    club = lock_club(club_id=join_request.club_id)
    join_request = lock_join_request(request_id=join_request.pk)
    if organiser is not None and not is_club_organiser(club=club, member=organiser):
        # An organiser of another club learns nothing about this one's requests.
        raise ApplicationError("join_request_not_found", _("No such join request."), http_status=404)
    if join_request.status != JoinRequestStatus.PENDING:
        raise ApplicationError(
            "join_request_decided",
            _("This request is already %(status)s.") % {"status": join_request.get_status_display().lower()},
            http_status=409,
        )
    return club, join_request


def _decide(join_request: ClubJoinRequest, status: str, *, staff: User | None, organiser: Member | None, reason: str = "") -> None:
    join_request.status = status
    join_request.decided_at = timezone.now()
    join_request.decided_by_staff = staff
    join_request.decided_by_member = organiser
    join_request.reason = reason
    join_request.save(update_fields=["status", "decided_at", "decided_by_staff", "decided_by_member", "reason"])


@transaction.atomic
def club_join_approve(*, join_request: ClubJoinRequest, staff: User | None = None, organiser: Member | None = None) -> ClubMembership:
    """An organiser (a member organiser of the club, or staff) lets a pending request in; decided once."""
    club, join_request = _lock_pending(join_request, staff=staff, organiser=organiser)
    member = Member.objects.get(pk=join_request.member_id)
    _require_active_member(member)
    membership = _active_membership(club, member)
    if membership is None:
        membership = _open_membership(club, member, via=JoinedVia.APPROVAL)
    _decide(join_request, JoinRequestStatus.APPROVED, staff=staff, organiser=organiser)
    return membership


@transaction.atomic
def club_join_decline(
    *, join_request: ClubJoinRequest, reason: str, staff: User | None = None, organiser: Member | None = None
) -> ClubJoinRequest:
    """An organiser turns a pending request down with a reason the member sees."""
    reason = _require_reason(reason)
    _club, join_request = _lock_pending(join_request, staff=staff, organiser=organiser)
    _decide(join_request, JoinRequestStatus.DECLINED, staff=staff, organiser=organiser, reason=reason)
    return join_request


def _close_membership(club: Club, membership: ClubMembership, *, removed_by: User | None = None, reason: str = "") -> ClubMembership:
    membership.left_at = timezone.now()
    membership.removed_by = removed_by
    membership.reason = reason or membership.reason
    membership.save(update_fields=["left_at", "removed_by", "reason"])
    club.organiser_members.remove(membership.member_id)
    return membership


@transaction.atomic
def club_leave(*, club: Club, member: Member) -> ClubMembership | ClubJoinRequest:
    """The member leaves (an organiser stops organising), or withdraws a pending request. Rejoining opens a new stay."""
    club = lock_club(club_id=club.pk)
    membership = _active_membership(club, member)
    if membership is not None:
        return _close_membership(club, membership)
    pending = ClubJoinRequest.objects.select_for_update().filter(club=club, member=member, status=JoinRequestStatus.PENDING).first()
    if pending is None:
        raise ApplicationError("not_in_club", _("The member is not in this club."), http_status=409)
    pending.status = JoinRequestStatus.WITHDRAWN
    pending.decided_at = timezone.now()
    pending.save(update_fields=["status", "decided_at"])
    return pending


@transaction.atomic
def club_member_add(*, club: Club, member: Member, actor: User, reason: str) -> ClubMembership:
    """Staff put a member in a club whatever its join policy (the member limit still holds); a pending request of the
    member is approved by the same act."""
    reason = _require_reason(reason)
    club = lock_club(club_id=club.pk)
    member = Member.objects.get(pk=member.pk)
    _require_active_member(member)
    if _active_membership(club, member) is not None:
        raise ApplicationError("already_in_club", _("The member is already in this club."), fields={"member": member.pk}, http_status=409)
    membership = _open_membership(club, member, via=JoinedVia.STAFF, reason=reason)
    for pending in ClubJoinRequest.objects.select_for_update().filter(club=club, member=member, status=JoinRequestStatus.PENDING):
        _decide(pending, JoinRequestStatus.APPROVED, staff=actor, organiser=None, reason=reason)
    return membership


@transaction.atomic
def club_member_remove(*, club: Club, member: Member, actor: User, reason: str) -> ClubMembership:
    reason = _require_reason(reason)
    club = lock_club(club_id=club.pk)
    membership = _active_membership(club, member)
    if membership is None:
        raise ApplicationError("not_in_club", _("The member is not in this club."), fields={"member": member.pk}, http_status=409)
    return _close_membership(club, membership, removed_by=actor, reason=reason)


def _set_role(club: Club, membership: ClubMembership, role: str) -> None:
    if membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    if role == ClubRole.ORGANISER:
        club.organiser_members.add(membership.member_id)
    else:
        club.organiser_members.remove(membership.member_id)


@transaction.atomic
def club_role_set(*, club: Club, member: Member, role: str) -> ClubMembership:
    """Make a current member an organiser or a plain member again; the change is in the membership's history."""
    if role not in ClubRole.values:
        raise ApplicationError("invalid_role", _("Unknown club role: %(role)s.") % {"role": role}, fields={"role": role})
    club = lock_club(club_id=club.pk)
    membership = _active_membership(club, member)
    if membership is None:
        raise ApplicationError("not_in_club", _("The member is not in this club."), fields={"member": member.pk}, http_status=409)
    _set_role(club, membership, role)
    return membership


def club_check(*, club: Club, rule_tiers: Iterable[Tier] = (), rule_tags: Iterable[Tag] = ()) -> None:
    """A club "by rule" needs at least one rule, or it would let everyone in."""
    if club.join_policy == JoinPolicy.RULE and not (club.rule_city_list or list(rule_tiers) or list(rule_tags) or club.rule_segment_id):
        message = _("A club that members join by rule needs at least one rule: tiers, cities, tags or a segment.")
        raise ApplicationError("invalid_club", message, fields={"join_policy": message})


@transaction.atomic
def club_save(
    *,
    club: Club,
    organiser_members: Iterable[Member] | None = None,
    organiser_staff: Iterable[User] | None = None,
    rule_tiers: Iterable[Tier] | None = None,
    rule_tags: Iterable[Tag] | None = None,
) -> Club:
    """Create or edit a club; member organisers must be current members of it (None leaves a list as it is)."""
    rule_tiers = list(rule_tiers) if rule_tiers is not None else (list(club.rule_tiers.all()) if club.pk else [])
    rule_tags = list(rule_tags) if rule_tags is not None else (list(club.rule_tags.all()) if club.pk else [])
    club_check(club=club, rule_tiers=rule_tiers, rule_tags=rule_tags)
    if club.pk:
        lock_club(club_id=club.pk)
    club.save()
    club.rule_tiers.set(rule_tiers)
    club.rule_tags.set(rule_tags)
    if organiser_members is not None:
        organisers = list(organiser_members)
        current = {
            membership.member_id: membership
            for membership in ClubMembership.objects.select_for_update().filter(club=club, left_at__isnull=True).order_by("pk")
        }
        outsiders = [member for member in organisers if member.pk not in current]
        if outsiders:
            raise ApplicationError(
                "not_in_club",
                _("An organiser must be a member of the club: %(names)s") % {"names": ", ".join(m.name for m in outsiders)},
                fields={"organiser_members": [member.pk for member in outsiders]},
            )
        chosen = {member.pk for member in organisers}
        for member_id, membership in current.items():
            _set_role(club, membership, ClubRole.ORGANISER if member_id in chosen else ClubRole.MEMBER)
    if organiser_staff is not None:
        club.organiser_staff.set(organiser_staff)
    return club


def club_add_organiser(*, club: Club, member: Member | None = None, staff: User | None = None) -> Club:
    if member is not None:
        club_role_set(club=club, member=member, role=ClubRole.ORGANISER)
    if staff is not None:
        club.organiser_staff.add(staff)
    return club


# Events -----------------------------------------------------------------------------------------


def _capacity_below_seats(stored: Event) -> str:
    return _("The capacity cannot be less than the seats already taken (%(taken)d).") % {"taken": stored.seats_taken}


def event_check(*, event: Event) -> None:
    """Raise ``invalid_event`` naming each field whose dates or limits do not fit together."""
    problems: dict[str, str] = {}
    if event.starts_at and event.ends_at and event.ends_at <= event.starts_at:
        problems["ends_at"] = _("The event must end after it starts.")
    if event.registration_opens_at and event.registration_closes_at and event.registration_closes_at <= event.registration_opens_at:
        problems["registration_closes_at"] = _("Registration must close after it opens.")
    if event.registration_closes_at and event.ends_at and event.registration_closes_at > event.ends_at:
        problems["registration_closes_at"] = _("Registration must close before the event ends.")
    if event.cancellation_deadline and event.starts_at and event.cancellation_deadline > event.starts_at:
        problems["cancellation_deadline"] = _("Free cancellation must end before the event starts.")
    if event.kind == "online" and not event.online_url:
        problems["online_url"] = _("An online event needs a link.")
    if event.members_only and not event.club_id:
        problems["members_only"] = _("A members-only event needs a club.")
    if event.kind == "offline" and not event.venue:
        problems["venue"] = _("An offline event needs a venue.")
    stored = Event.objects.filter(pk=event.pk).first() if event.pk else None
    if stored is not None and event.capacity is not None and event.capacity < stored.seats_taken:
        problems["capacity"] = _capacity_below_seats(stored)
    if problems:
        raise ApplicationError("invalid_event", " ".join(problems.values()), fields=problems)


# Moved only by registration, cancellation and the status transitions, under the event's lock.
EVENT_SERVICE_FIELDS = ("seats_taken", "status", "cancel_reason")


@transaction.atomic
def event_save(*, event: Event) -> Event:
    """Create or edit an event. An edit takes the event's lock, as a registration does, and writes only the edited
    fields; raising the capacity seats the waitlist first, in waitlist order, and tells them."""
    event_check(event=event)
    if not event.pk:
        event.seats_taken = 0
        event.save()
        return event
    stored = lock_event(event_id=event.pk)
    if event.capacity < stored.seats_taken:
        message = _capacity_below_seats(stored)
        raise ApplicationError("invalid_event", message, fields={"capacity": message})
    edited_fields_save(instance=event, locked=stored, service_owned=EVENT_SERVICE_FIELDS)
    if event.capacity > stored.capacity and event.status in (EventStatus.PUBLISHED, EventStatus.CLOSED):
        _promote_waitlist(event)
    return event


def _transition(event: Event, allowed: set[str], to: str) -> Event:
    event = lock_event(event_id=event.pk)
    if event.status not in allowed:
        raise ApplicationError(
            "invalid_status", _("The event is %(status)s; this is not possible.") % {"status": event.get_status_display()}, http_status=409
        )
    event.status = to
    event.save(update_fields=["status", "updated_at"])
    return event


@transaction.atomic
def event_publish(*, event: Event) -> Event:
    event_check(event=event)
    return _transition(event, {EventStatus.DRAFT}, EventStatus.PUBLISHED)


@transaction.atomic
def event_close(*, event: Event) -> Event:
    return _transition(event, {EventStatus.PUBLISHED}, EventStatus.CLOSED)


@transaction.atomic
def event_finish(*, event: Event) -> Event:
    return _transition(event, {EventStatus.PUBLISHED, EventStatus.CLOSED}, EventStatus.FINISHED)


@transaction.atomic
def event_cancel(*, event: Event, reason: str, actor: User | None = None) -> int:
    """Cancel the event: every open registration is cancelled and its points given back. Returns how many."""
    if not (reason or "").strip():
        raise ApplicationError("reason_required", _("A reason is required."), fields={"reason": ""})
    event = _transition(event, {EventStatus.DRAFT, EventStatus.PUBLISHED, EventStatus.CLOSED}, EventStatus.CANCELLED)
    event.cancel_reason = reason.strip()[:255]
    event.save(update_fields=["cancel_reason"])
    cancelled = 0
    open_registrations = Registration.objects.filter(event=event, state__in=OPEN_STATES)
    lock_points_accounts(member_ids=open_registrations.filter(payment__isnull=False).values_list("member_id", flat=True))
    for registration in lock_registrations(registration_ids=open_registrations.values_list("pk", flat=True)):
        _cancel_registration(registration, reason=Reason("event_cancelled", {"reason": event.cancel_reason}), refund=True, actor=actor)
        refunded = event.points_price if registration.payment_id else 0
        _notify(registration, CANCELLED_TEMPLATE, reason=event.cancel_reason, refunded_points=refunded)
        cancelled += 1
    event.seats_taken = 0
    event.save(update_fields=["seats_taken"])
    return cancelled


# Registration -----------------------------------------------------------------------------------


def _refuse(code: str, message: str) -> ApplicationError:
    return ApplicationError(code, message, http_status=409)


def _pay(event: Event, member: Member) -> int | None:
    if not event.points_price:
        return None
    entry = member_services.points_spend(
        member=member,
        amount=event.points_price,
        reason=Reason("event", {"title": translated_param(event, "title")}),
        source_ref=f"event:{event.pk}",
    )
    return entry.pk


@transaction.atomic
def registration_create(*, event: Event, member: Member, companions: int = 0, now: datetime | None = None) -> Registration:
    """Register for a seat, or join the waitlist when the event is full (arrival order)."""
    now = now or timezone.now()
    event = lock_event(event_id=event.pk)
    member = Member.objects.get(pk=member.pk)
    if event.status != EventStatus.PUBLISHED:
        raise _refuse("event_not_open", _("The event is not open for registration."))
    if not event.registration_opens_at <= now < event.registration_closes_at:
        raise _refuse("registration_closed", _("Registration is not open at this time."))
    if member.status != MemberStatus.ACTIVE:
        raise _refuse(
            "member_frozen" if member.status == MemberStatus.FROZEN else "member_closed", _("The member's account is not active.")
        )
    tiers = set(event.eligible_tiers.values_list("pk", flat=True))
    if tiers and member.tier_id not in tiers:
        raise _refuse("not_eligible_tier", _("This event is not open to the member's tier."))
    if event.members_only and not ClubMembership.objects.filter(club_id=event.club_id, member=member, left_at__isnull=True).exists():
        raise _refuse(
            "club_members_only",
            _("This event is for members of %(club)s only; join the club to register.") % {"club": event.club.name},
        )
    if companions < 0 or companions > event.max_companions:
        raise ApplicationError(
            "too_many_companions",
            _("At most %(count)d companions may come along.") % {"count": event.max_companions},
            fields={"companions": companions},
        )
    if Registration.objects.filter(event=event, member=member).exclude(state=RegistrationState.CANCELLED).exists():
        raise _refuse("already_registered", _("The member is already registered for this event."))
    seats = 1 + companions
    if event.seats_taken + seats <= event.capacity:
        registration = Registration.objects.create(
            event=event,
            member=member,
            companions=companions,
            state=RegistrationState.REGISTERED,
            created_at=now,
            payment_id=_pay(event, member),
        )
        event.seats_taken += seats
        event.save(update_fields=["seats_taken"])
        outbox_emit_many(events=registration_event(registration), types=[EventType.REGISTRATION_CHANGED])
        return registration
    registration = Registration.objects.create(
        event=event, member=member, companions=companions, state=RegistrationState.WAITLISTED, created_at=now
    )
    outbox_emit_many(events=registration_event(registration), types=[EventType.REGISTRATION_CHANGED])
    return registration


def _cancel_registration(registration: Registration, *, reason: str | Reason, refund: bool, actor: User | None) -> None:
    registration.state = RegistrationState.CANCELLED
    registration.cancelled_at = timezone.now()
    for name, value in reason_fields(reason, text_field="cancel_reason").items():
        setattr(registration, name, value)
    registration.save(update_fields=["state", "cancelled_at", "cancel_reason", "reason_code", "reason_params"])
    outbox_emit_many(events=registration_event(registration), types=[EventType.REGISTRATION_CHANGED])
    if refund and registration.payment_id:
        member_services.points_reverse(entry=registration.payment, reason=reason, actor=actor)


@transaction.atomic
def registration_cancel(*, registration: Registration, reason: str = "", actor: User | None = None) -> list[Registration]:
    """Cancel; points come back before the deadline; the freed seats go to the waitlist. Returns who was promoted."""
    event = lock_event(event_id=registration.event_id)
    if Registration.objects.filter(pk=registration.pk, payment__isnull=False).exists():
        lock_points_account(member_id=registration.member_id)
    registration = lock_registration(registration_id=registration.pk)
    if registration.state not in OPEN_STATES:
        raise _refuse("not_cancellable", _("This registration is %(state)s.") % {"state": registration.get_state_display()})
    was_seated = registration.state == RegistrationState.REGISTERED
    refund = timezone.now() <= event.cancellation_deadline
    _cancel_registration(registration, reason=reason or Reason("registration_cancelled_by_member"), refund=refund, actor=actor)
    if not was_seated:
        return []
    event.seats_taken -= registration.seats
    event.save(update_fields=["seats_taken"])
    return _promote_waitlist(event)


def _promote_waitlist(event: Event) -> list[Registration]:
    """Seat waitlisted registrations in arrival order while they fit (the event is locked by the caller).

    Only services holding the event's lock change a waitlisted registration, so the list read here stays true;
    each one's points account is locked (by paying) before the registration row, as the lock order says.
    """
    promoted = []
    waitlist = Registration.objects.filter(event=event, state=RegistrationState.WAITLISTED).order_by("created_at", "pk")
    for waiting in waitlist.select_related("member"):
        if event.seats_taken + waiting.seats > event.capacity:
            continue
        if (
            event.members_only
            and not ClubMembership.objects.filter(club_id=event.club_id, member_id=waiting.member_id, left_at__isnull=True).exists()
        ):
            # Left the club while waiting: a members-only seat is not theirs any more.
            why = _("This event is for members of %(club)s only; join the club to register.") % {"club": event.club.name}
            _cancel_registration(waiting, reason=Reason("registration_not_seated", {"why": why}), refund=False, actor=None)
            continue
        try:
            with transaction.atomic():
                payment = _pay(event, waiting.member)
        except ApplicationError as exc:
            _cancel_registration(waiting, reason=Reason("registration_not_seated", {"why": exc.message}), refund=False, actor=None)
            continue
        waiting = lock_registration(registration_id=waiting.pk)
        waiting.state = RegistrationState.REGISTERED
        waiting.payment_id = payment
        waiting.promoted_at = timezone.now()
        waiting.save(update_fields=["state", "payment", "promoted_at"])
        outbox_emit_many(events=registration_event(waiting), types=[EventType.REGISTRATION_CHANGED])
        event.seats_taken += waiting.seats
        _notify(waiting, PROMOTED_TEMPLATE)
        promoted.append(waiting)
    event.save(update_fields=["seats_taken"])
    return promoted


# Notifications ----------------------------------------------------------------------------------
# Service messages go through the messaging outbox in the same transaction as the change they announce,
# so a rolled-back change sends nothing and a committed one is never left untold.


def _event_context(event: Event) -> dict[str, str]:
    return {
        "event_title": event.title,
        "starts_at": _local(event.starts_at),
        "venue": event.venue or event.online_url,
    }


def _notify(registration: Registration, template_code: str, **extra: object) -> None:
    context = {**_event_context(registration.event), **extra}
    for channel in settings.USEROPS_EVENTS["NOTIFY_CHANNELS"]:
        try:
            message_enqueue(
                member=registration.member,
                channel=channel,
                template_code=template_code,
                context=context,
                purpose=MessagePurpose.SERVICE,
                dedupe_key=f"{template_code}:{registration.pk}:{channel}",
            )
        except ApplicationError as exc:
            # A missing or broken template must not undo a cancellation or a promotion; staff see it in the log.
            logger.warning("event message %s for registration %s not queued: %s", template_code, registration.pk, exc.message)


def events_send_reminders(*, now: datetime | None = None) -> int:
    """Queue one reminder per seated member of every event starting within the reminder window. Returns how many."""
    now = now or timezone.now()
    window = timedelta(hours=settings.USEROPS_EVENTS["REMINDER_HOURS_BEFORE"])
    queued = 0
    events = Event.objects.filter(status__in=[EventStatus.PUBLISHED, EventStatus.CLOSED], starts_at__gt=now, starts_at__lte=now + window)
    for event in events.order_by("starts_at", "pk"):
        member_ids = list(event.registrations.filter(state=RegistrationState.REGISTERED).values_list("member_id", flat=True))
        for channel in settings.USEROPS_EVENTS["NOTIFY_CHANNELS"]:
            try:
                queued += messages_enqueue_bulk(
                    member_ids=member_ids,
                    channel=channel,
                    template_code=REMINDER_TEMPLATE,
                    context=_event_context(event),
                    purpose=MessagePurpose.SERVICE,
                    dedupe_prefix=f"{REMINDER_TEMPLATE}:{event.pk}:{channel}",
                )
            except ApplicationError as exc:
                logger.warning("reminders for event %s on %s not queued: %s", event.pk, channel, exc.message)
    return queued


# Tickets and check-in ---------------------------------------------------------------------------


def ticket_payload(registration: Registration) -> str:
    """What the ticket's QR code carries: the ticket code, signed so a forged or altered code is refused."""
    return signing.dumps({"t": registration.ticket_code}, salt=TICKET_SALT, compress=True)


def _ticket_code_from(scanned: str) -> str:
    scanned = (scanned or "").strip()
    if ":" in scanned:
        try:
            return signing.loads(scanned, salt=TICKET_SALT)["t"]
        except (signing.BadSignature, KeyError, TypeError) as exc:
            raise ApplicationError("ticket_forged", _("This ticket's signature is not valid."), http_status=400) from exc
    return "".join(ch for ch in scanned.upper() if ch.isalnum())


@dataclass(frozen=True)
class CheckIn:
    registration: Registration
    already: bool


def check_in_window(*, event: Event) -> tuple[datetime, datetime]:
    """When tickets are accepted: from ``CHECK_IN_OPENS_HOURS_BEFORE`` hours before the start until the event ends."""
    opens = event.starts_at - timedelta(hours=settings.USEROPS_EVENTS["CHECK_IN_OPENS_HOURS_BEFORE"])
    return opens, event.ends_at


def _require_check_in_open(event: Event, now: datetime) -> None:
    opens, closes = check_in_window(event=event)
    if now < opens:
        raise _refuse(
            "check_in_not_open",
            _("Check-in opens at %(at)s, %(hours)d hours before the event starts.")
            % {"at": _local(opens), "hours": settings.USEROPS_EVENTS["CHECK_IN_OPENS_HOURS_BEFORE"]},
        )
    if now > closes:
        raise _refuse("check_in_closed", _("Check-in closed when the event ended at %(at)s.") % {"at": _local(closes)})


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


@transaction.atomic
def registration_check_in(
    *,
    ticket: str,
    event: Event | None = None,
    actor: User | None = None,
    client: ApiClient | None = None,
    now: datetime | None = None,
) -> CheckIn:
    """Check a ticket in within the event's check-in window; a second scan answers "already checked in at …" and
    changes nothing."""
    now = now or timezone.now()
    code = _ticket_code_from(ticket)
    queryset = Registration.objects.select_related("event", "member")
    if event is not None:
        queryset = queryset.filter(event=event)
    registration = queryset.filter(ticket_code=code).first()
    if registration is None:
        raise ApplicationError("ticket_not_found", _("No such ticket for this event."), http_status=404)
    if registration.event.attendance_points:
        lock_points_account(member_id=registration.member_id)
    registration.state = lock_registration(registration_id=registration.pk).state
    if registration.state == RegistrationState.ATTENDED:
        return CheckIn(registration=registration, already=True)
    if registration.state != RegistrationState.REGISTERED:
        raise _refuse("ticket_not_valid", _("This registration is %(state)s.") % {"state": registration.get_state_display()})
    if registration.event.status in (EventStatus.CANCELLED, EventStatus.DRAFT):
        raise _refuse("event_not_open", _("The event is not taking place."))
    _require_check_in_open(registration.event, now)
    registration.state = RegistrationState.ATTENDED
    registration.checked_in_at = now
    if registration.event.attendance_points and registration.member.status == MemberStatus.ACTIVE:
        reward = member_services.points_earn(
            member=registration.member,
            amount=registration.event.attendance_points,
            reason=Reason("event_attended", {"title": translated_param(registration.event, "title")}),
            source_ref=f"event:{registration.event_id}:attendance",
            actor=actor,
            client=client,
        )
        registration.attendance_reward = reward
    registration.save(update_fields=["state", "checked_in_at", "attendance_reward"])
    outbox_emit_many(events=registration_event(registration, EventType.REGISTRATION_CHECKED_IN), types=[EventType.REGISTRATION_CHECKED_IN])
    activity_happened(
        member_id=registration.member_id,
        kind="event_attendance",
        event_id=f"attendance:{registration.pk}",
        occurred_at=registration.checked_in_at,
        channel="event",
    )
    return CheckIn(registration=registration, already=False)


def events_mark_no_shows(*, now: datetime | None = None) -> int:
    """After an event ends, registered members who did not come become no-shows and the event is finished."""
    now = now or timezone.now()
    marked = 0
    for event in Event.objects.filter(ends_at__lte=now, status__in=[EventStatus.PUBLISHED, EventStatus.CLOSED]).order_by("pk"):
        with transaction.atomic():
            locked = lock_event(event_id=event.pk)
            marked += Registration.objects.filter(event=locked, state=RegistrationState.REGISTERED).update(state=RegistrationState.NO_SHOW)
            Registration.objects.filter(event=locked, state=RegistrationState.WAITLISTED).update(
                state=RegistrationState.CANCELLED,
                cancelled_at=now,
                **reason_fields(Reason("registration_no_free_seat"), text_field="cancel_reason"),
            )
            locked.status = EventStatus.FINISHED
            locked.save(update_fields=["status", "updated_at"])
    return marked
