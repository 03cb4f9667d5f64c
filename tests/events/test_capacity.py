"""Editing an event in the back office: seats stay counted, a raised capacity seats the waitlist first."""

import pytest

from apps.core.errors import ApplicationError
from apps.events import services
from apps.events.models import Event, EventStatus, Registration, RegistrationState
from apps.messaging.models import Message
from tests.events.factories import EventFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_saving_a_form_opened_before_registrations_keeps_the_seats_and_the_status():
    event = EventFactory(capacity=10, status=EventStatus.DRAFT)
    form_instance = Event.objects.get(pk=event.pk)
    services.event_publish(event=event)
    for member in MemberFactory.create_batch(4):
        services.registration_create(event=event, member=member)

    form_instance.venue = "New venue"
    services.event_save(event=form_instance)

    stored = Event.objects.get(pk=event.pk)
    assert (stored.seats_taken, stored.status, stored.venue) == (4, EventStatus.PUBLISHED, "New venue")


def test_capacity_below_the_seats_taken_now_is_refused():
    event = EventFactory(capacity=5)
    form_instance = Event.objects.get(pk=event.pk)
    for member in MemberFactory.create_batch(4):
        services.registration_create(event=event, member=member)
    form_instance.capacity = 3
    with pytest.raises(ApplicationError) as refused:
        services.event_save(event=form_instance)
    assert refused.value.code == "invalid_event" and "capacity" in refused.value.fields
    assert Event.objects.values_list("capacity", "seats_taken").get(pk=event.pk) == (5, 4)


def test_raising_capacity_seats_the_waitlist_in_order_before_later_registrants():
    event = EventFactory(capacity=2)
    members = MemberFactory.create_batch(6)
    for member in members[:5]:
        services.registration_create(event=event, member=member)
    waiting = list(Registration.objects.filter(event=event, state=RegistrationState.WAITLISTED).order_by("created_at", "pk"))
    assert [r.member for r in waiting] == members[2:5]

    form_instance = Event.objects.get(pk=event.pk)
    form_instance.capacity = 4
    services.event_save(event=form_instance)
    late = services.registration_create(event=event, member=members[5])

    states = dict(Registration.objects.filter(event=event).values_list("member_id", "state"))
    assert [states[m.pk] for m in members] == ["registered"] * 4 + ["waitlisted", "waitlisted"]
    assert late.state == RegistrationState.WAITLISTED
    assert Event.objects.get(pk=event.pk).seats_taken == 4
    told = set(Message.objects.filter(template_code="event_promoted").values_list("member_id", flat=True))
    assert told == {members[2].pk, members[3].pk}


def test_raising_capacity_of_a_draft_seats_nobody():
    event = EventFactory(capacity=2, status=EventStatus.DRAFT)
    event.capacity = 5
    services.event_save(event=event)
    assert not Message.objects.exists()
