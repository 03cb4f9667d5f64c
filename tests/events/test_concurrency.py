import pytest

from apps.events import services
from apps.events.models import Event, Registration, RegistrationState
from tests.events.factories import EventFactory
from tests.members.factories import MemberFactory
from tests.members.test_concurrency import run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_race_for_the_last_seats_never_overbooks_and_waitlists_in_order():
    event = EventFactory(capacity=5)
    members = MemberFactory.create_batch(16)

    def register(index: int) -> str:
        return services.registration_create(event=event, member=members[index]).state

    outcomes = run_at_once(register)
    assert outcomes == {RegistrationState.REGISTERED: 5, RegistrationState.WAITLISTED: 11}
    assert Event.objects.get(pk=event.pk).seats_taken == 5
    waiting = list(Registration.objects.filter(event=event, state=RegistrationState.WAITLISTED).order_by("created_at", "pk"))
    first_seated = Registration.objects.filter(event=event, state=RegistrationState.REGISTERED).first()
    promoted = services.registration_cancel(registration=first_seated)
    assert promoted == waiting[:1]


def test_one_member_racing_themselves_registers_once():
    event = EventFactory(capacity=50)
    member = MemberFactory()

    def register(index: int) -> str:
        services.registration_create(event=event, member=member)
        return "registered"

    outcomes = run_at_once(register, threads=8)
    assert outcomes["registered"] == 1 and outcomes["already_registered"] == 7


def test_back_office_saves_beside_registrations_keep_seats_equal_to_the_seated():
    """Form saves, each from a page opened before the registrations around it, race registrations on one event."""
    event = EventFactory(capacity=200)
    members = MemberFactory.create_batch(64)

    def work(index: int) -> str:
        if index % 4 == 0:
            for round_ in range(4):
                opened = Event.objects.get(pk=event.pk)
                services.registration_create(event=event, member=members[index * 4 + round_])
                opened.venue = f"Hall {index}.{round_}"
                services.event_save(event=opened)
            return "saved"
        for member in members[index * 4 : index * 4 + 4]:
            services.registration_create(event=event, member=member)
        return "registered"

    outcomes = run_at_once(work)
    assert outcomes == {"saved": 4, "registered": 12}
    seated = Registration.objects.filter(event=event, state=RegistrationState.REGISTERED).count()
    assert Event.objects.get(pk=event.pk).seats_taken == seated == 64
