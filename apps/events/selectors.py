from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.events.filters import EventFilter
from apps.events.models import Club, Event, EventStatus, Registration, RegistrationState
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


def clubs_with_counts() -> QuerySet[Club]:
    return Club.objects.annotate(
        active_members=Count("memberships", filter=Q(memberships__left_at__isnull=True), distinct=True),
        event_count=Count("events", distinct=True),
    )


def attendee_rows(*, event: Event) -> QuerySet[Registration]:
    return event.registrations.exclude(state=RegistrationState.CANCELLED).select_related("member").order_by("created_at", "pk")
