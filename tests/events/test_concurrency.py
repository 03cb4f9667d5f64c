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
