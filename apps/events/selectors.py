from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.events.club_rules import segment_rule
from apps.events.filters import EventFilter
from apps.events.models import (
    Club,
    ClubJoinRequest,
    ClubMembership,
    ClubRole,
    Event,
    EventStatus,
    JoinPolicy,
    JoinRequestStatus,
    Registration,
    RegistrationState,
)
from apps.members.models import Member


def public_events(*, filters: dict[str, Any] | None = None) -> QuerySet[Event]:
    queryset = (
        Event.objects.filter(status__in=[EventStatus.PUBLISHED, EventStatus.CLOSED]).select_related("club").order_by("starts_at", "pk")
    )
    return EventFilter(data=filters or {}, queryset=queryset).qs


def public_event_get(*, pk: int) -> Event:
    event = Event.objects.filter(pk=pk).exclude(status=EventStatus.DRAFT).first()
    if event is None:
        raise ApplicationError("event_not_found", _("No such event."), http_status=404)
    return event


def events_open_for_registration(*, now: datetime | None = None) -> QuerySet[Event]:
    """Published events whose registration window is open now, soonest first: what staff can register a member for."""
    now = now or timezone.now()
    return Event.objects.filter(status=EventStatus.PUBLISHED, registration_opens_at__lte=now, registration_closes_at__gt=now).order_by(
        "starts_at", "pk"
    )


def member_registrations(*, member: Member) -> QuerySet[Registration]:
    return Registration.objects.filter(member=member).select_related("event").order_by("-created_at", "-pk")


def member_registration_get(*, member: Member, pk: int) -> Registration:
    registration = member_registrations(member=member).filter(pk=pk).first()
    if registration is None:
        raise ApplicationError("registration_not_found", _("No such registration."), http_status=404)
    return registration


def waitlist(*, event: Event) -> QuerySet[Registration]:
    return event.registrations.filter(state=RegistrationState.WAITLISTED).select_related("member").order_by("created_at", "pk")


@dataclass(frozen=True)
class EventCounts:
    registered: int
    waitlisted: int
    attended: int
    no_show: int
    cancelled: int
    attendance_rate: Decimal | None


def event_counts(*, event: Event) -> EventCounts:
    """Attendance rate = attended ÷ (attended + no-shows): who came, of those who held a seat at the door."""
    counts = dict(event.registrations.values_list("state").annotate(n=Count("id")).order_by())
    attended, no_show = counts.get(RegistrationState.ATTENDED, 0), counts.get(RegistrationState.NO_SHOW, 0)
    held = attended + no_show
    return EventCounts(
        registered=counts.get(RegistrationState.REGISTERED, 0),
        waitlisted=counts.get(RegistrationState.WAITLISTED, 0),
        attended=attended,
        no_show=no_show,
        cancelled=counts.get(RegistrationState.CANCELLED, 0),
        attendance_rate=(Decimal(attended) * 100 / held).quantize(Decimal("0.1")) if held else None,
    )


def count_of(rows: QuerySet[Any], *, per: str) -> Coalesce:
    """How many of ``rows`` point at the outer row through ``per``, as one subquery. Counting several relations with
    joins in one query multiplies them (a club's members × its requests × its events) before ``DISTINCT`` undoes it:
    three clubs of 10,000 members took 74 s."""
    counted = rows.filter(**{per: OuterRef("pk")}).order_by().values(per).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def clubs_with_counts() -> QuerySet[Club]:
    return Club.objects.annotate(
        active_members=count_of(ClubMembership.objects.filter(left_at__isnull=True), per="club"),
        event_count=count_of(Event.objects.all(), per="club"),
    )


def attendee_rows(*, event: Event) -> QuerySet[Registration]:
    return event.registrations.exclude(state=RegistrationState.CANCELLED).select_related("member").order_by("created_at", "pk")


# Clubs ------------------------------------------------------------------------------------------


def club_rule_refusal(*, club: Club, member: Member) -> str | None:
    """Why ``member`` does not meet the club's join rule, or None when every rule that is set holds."""
    tiers = list(club.rule_tiers.all())
    if tiers and member.tier_id not in {tier.pk for tier in tiers}:
        return _("This club is open to these tiers only: %(tiers)s.") % {"tiers": ", ".join(str(tier) for tier in tiers)}
    cities = club.rule_city_list
    if cities and member.city not in cities:
        return _("This club is open to members in these cities only: %(cities)s.") % {"cities": ", ".join(cities)}
    tags = list(club.rule_tags.all())
    if tags and not member.tags.filter(pk__in=[tag.pk for tag in tags]).exists():
        return _("This club is open to members tagged %(tags)s only.") % {"tags": ", ".join(tag.name for tag in tags)}
    return _segment_refusal(club, member)


def _segment_refusal(club: Club, member: Member) -> str | None:
    if club.rule_segment_id is None:
        return None
    rule = segment_rule()
    if rule is None or not rule.contains(club.rule_segment_id, member):
        name = rule.name(club.rule_segment_id) if rule else str(club.rule_segment_id)
        return _("This club is open to members of the segment %(segment)s only.") % {"segment": name}
    return None


def club_refusal_for(*, club: Club, member: Member) -> str | None:
    """Why the member cannot join (or ask to join) the club now, or None. Reads only; the services decide again under
    the club's lock."""
    if club.max_members is not None and club.memberships.filter(left_at__isnull=True).count() >= club.max_members:
        return _("The club is full (%(count)d members).") % {"count": club.max_members}
    if club.join_policy == JoinPolicy.RULE:
        return club_rule_refusal(club=club, member=member)
    return None


def joinable_club_ids(*, member: Member, clubs: QuerySet[Club]) -> list[int]:
    """Clubs the member is not in, that have room, and whose rule (if joined by rule) the member meets."""
    mine = set(ClubMembership.objects.filter(member=member, left_at__isnull=True).values_list("club_id", flat=True))
    candidates = clubs.exclude(pk__in=mine).annotate(
        current_members=Count("memberships", filter=Q(memberships__left_at__isnull=True), distinct=True)
    )
    tag_ids = set(member.tags.values_list("pk", flat=True))
    ids = []
    for club in candidates.prefetch_related("rule_tiers", "rule_tags"):
        if club.max_members is not None and club.current_members >= club.max_members:
            continue
        if club.join_policy == JoinPolicy.RULE:
            tiers = {tier.pk for tier in club.rule_tiers.all()}
            tags = {tag.pk for tag in club.rule_tags.all()}
            cities = club.rule_city_list
            if (tiers and member.tier_id not in tiers) or (cities and member.city not in cities) or (tags and not tags & tag_ids):
                continue
            if _segment_refusal(club, member) is not None:
                continue
        ids.append(club.pk)
    return ids


def public_clubs() -> QuerySet[Club]:
    return clubs_with_counts().order_by("name", "pk")


def club_get(*, pk: int) -> Club:
    club = public_clubs().filter(pk=pk).first()
    if club is None:
        raise ApplicationError("club_not_found", _("No such club."), http_status=404)
    return club


def member_memberships(*, member: Member) -> QuerySet[ClubMembership]:
    """The member's current clubs, most recently joined first."""
    return ClubMembership.objects.filter(member=member, left_at__isnull=True).select_related("club").order_by("-joined_at", "-pk")


def member_club_state(*, club: Club, member: Member) -> dict[str, Any]:
    """Where the member stands with a club: current role, or a pending request, or the last decision."""
    membership = ClubMembership.objects.filter(club=club, member=member, left_at__isnull=True).first()
    last_request = ClubJoinRequest.objects.filter(club=club, member=member).order_by("-created_at", "-pk").first()
    return {
        "is_member": membership is not None,
        "role": membership.role if membership else None,
        "joined_at": membership.joined_at if membership else None,
        "request_status": last_request.status if last_request else None,
        "request_reason": last_request.reason if last_request else "",
    }


def organised_club_get(*, member: Member, pk: int) -> Club:
    """A club the member organises now; any other club is a 404 to them."""
    club = Club.objects.filter(
        pk=pk, memberships__member=member, memberships__left_at__isnull=True, memberships__role=ClubRole.ORGANISER
    ).first()
    if club is None:
        raise ApplicationError("club_not_found", _("No such club."), http_status=404)
    return club


def pending_requests(*, club: Club) -> QuerySet[ClubJoinRequest]:
    return club.join_requests.filter(status=JoinRequestStatus.PENDING).select_related("member", "member__tier").order_by("created_at", "pk")


def organiser_join_request_get(*, member: Member, pk: int) -> ClubJoinRequest:
    """A join request of a club the member organises now; any other request is a 404 to them."""
    organised = ClubMembership.objects.filter(member=member, left_at__isnull=True, role=ClubRole.ORGANISER).values("club_id")
    join_request = ClubJoinRequest.objects.filter(pk=pk, club_id__in=organised).select_related("club", "member").first()
    if join_request is None:
        raise ApplicationError("join_request_not_found", _("No such join request."), http_status=404)
    return join_request


def club_current_members(*, club: Club) -> QuerySet[ClubMembership]:
    return club.memberships.filter(left_at__isnull=True).select_related("member", "member__tier").order_by("-role", "joined_at", "pk")


def club_member_ids(*, club: Club) -> QuerySet[ClubMembership]:
    """The current members' ids, as a subquery other apps' reads can use (analytics' activity panel)."""
    return ClubMembership.objects.filter(club=club, left_at__isnull=True).values("member_id")


def club_upcoming_events(*, club: Club, now: datetime | None = None) -> QuerySet[Event]:
    now = now or timezone.now()
    return club.events.filter(ends_at__gte=now).exclude(status=EventStatus.DRAFT).order_by("starts_at", "pk")


def club_rule_segment_name(*, club: Club) -> str | None:
    rule = segment_rule()
    if club.rule_segment_id is None:
        return None
    return rule.name(club.rule_segment_id) if rule else str(club.rule_segment_id)
