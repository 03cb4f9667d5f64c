"""What staff notice of the counters, waitlist and redemption rules, in a real browser (English and 中文)."""

import pytest

from apps.benefits import services as benefit_services
from apps.benefits.models import GrantSource, GrantState
from apps.core.roles import CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.events import services as event_services
from apps.events.models import Event, Registration, RegistrationState
from tests.benefits.factories import BenefitFactory
from tests.events.factories import EventFactory
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SAVE = "button[name=_save], input[name=_save]"


def test_raising_capacity_in_the_back_office_seats_the_waitlist(page, login_as, screenshot):
    event = EventFactory(title="Spring test-drive day", capacity=1)
    members = MemberFactory.create_batch(3)
    for member in members:
        event_services.registration_create(event=event, member=member)
    login_as(OPERATIONS_MANAGER)

    page.goto(f"/admin/events/event/{event.pk}/change/")
    page.fill("input[name=capacity]", "3")
    page.locator(SAVE).first.click()
    page.get_by_text("was changed successfully").wait_for()
    screenshot("event-capacity-raised")

    assert set(Registration.objects.filter(event=event).values_list("state", flat=True)) == {RegistrationState.REGISTERED}
    assert Event.objects.get(pk=event.pk).seats_taken == 3


def test_capacity_below_the_seats_taken_is_explained_in_chinese(page, login_as):
    event = EventFactory(title="Owners' dinner", capacity=5)
    for member in MemberFactory.create_batch(2):
        event_services.registration_create(event=event, member=member)
    user = login_as(OPERATIONS_MANAGER)
    user.language = "zh-hans"
    user.save(update_fields=["language"])

    page.goto(f"/admin/events/event/{event.pk}/change/")
    page.fill("input[name=capacity]", "1")
    page.locator(SAVE).first.click()
    page.get_by_text("名额不能少于已占用的名额（2）").first.wait_for()
    assert Event.objects.values_list("capacity", "seats_taken").get(pk=event.pk) == (5, 2)


def test_customer_service_redeems_at_the_desk_and_is_recorded(page, login_as, screenshot):
    grant = benefit_services.grant_issue(benefit=BenefitFactory(name="Free car wash"), member=MemberFactory(), source=GrantSource.STAFF)
    user = login_as(CUSTOMER_SERVICE)

    page.goto(f"/admin/benefits/grant/{grant.pk}/change/")
    page.locator(f"a[href$='/grant/{grant.pk}/redeem/']").click()
    page.fill("input[name=order_ref]", "DESK-7")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("The grant was redeemed.").wait_for()
    page.get_by_text("DESK-7").first.wait_for()
    assert user.username in page.content()
    screenshot("grant-redeemed-at-desk")
    grant.refresh_from_db()
    assert grant.state == GrantState.REDEEMED and grant.redemption.actor == user
