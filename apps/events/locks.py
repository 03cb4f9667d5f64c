"""The one place events and registrations are locked, in the product's lock order (docs/architecture.md).

A club or an event is locked before the members and points accounts of its registrants, and registrations last.
"""

from collections.abc import Iterable

from apps.events.models import Club, ClubJoinRequest, ClubMembership, Event, Registration


def lock_club(*, club_id: int) -> Club:
    """A club's members change under its row lock: it stands where an event does, before members and their rows."""
    return Club.objects.select_for_update().get(pk=club_id)


def lock_active_membership(*, club_id: int, member_id: int) -> ClubMembership | None:
    return ClubMembership.objects.select_for_update().filter(club_id=club_id, member_id=member_id, left_at__isnull=True).first()


def lock_join_request(*, request_id: int) -> ClubJoinRequest:
    return ClubJoinRequest.objects.select_for_update().get(pk=request_id)


def lock_event(*, event_id: int) -> Event:
    return Event.objects.select_for_update().get(pk=event_id)


def lock_registration(*, registration_id: int) -> Registration:
    return Registration.objects.select_for_update().get(pk=registration_id)


def lock_registrations(*, registration_ids: Iterable[int]) -> list[Registration]:
    return list(Registration.objects.select_for_update().filter(pk__in=set(registration_ids)).order_by("pk"))
