"""The one place events and registrations are locked, in the product's lock order (docs/architecture.md).

An event is locked before the members and points accounts of its registrants, and registrations last.
"""

from collections.abc import Iterable

from apps.events.models import Event, Registration


def lock_event(*, event_id: int) -> Event:
    return Event.objects.select_for_update().get(pk=event_id)


def lock_registration(*, registration_id: int) -> Registration:
    return Registration.objects.select_for_update().get(pk=registration_id)


def lock_registrations(*, registration_ids: Iterable[int]) -> list[Registration]:
    return list(Registration.objects.select_for_update().filter(pk__in=set(registration_ids)).order_by("pk"))
