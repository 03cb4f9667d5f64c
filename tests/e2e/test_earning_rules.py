"""An earning rule in a real browser: built in the form, simulated over the last 30 days, switched on after the
confirmation page shows what it would have paid; then an activity earns through it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.roles import OPERATIONS_MANAGER
from apps.members.models import PointsAccount
from apps.rules.models import EarningRule, RuleStatus
from tests.analytics.factories import ActivityEventFactory
from tests.core.factories import ApiClientFactory
from tests.members.factories import MemberFactory
from tests.rules.factories import event, ingest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_build_simulate_and_switch_on_a_rule(page, login_as, screenshot):
    members = MemberFactory.create_batch(3)
    for index, member in enumerate(members):
        for days_ago in range(index + 1):
            ActivityEventFactory(member=member, kind="test_drive_booked", occurred_at=timezone.now() - timedelta(days=days_ago + 1))
    login_as(OPERATIONS_MANAGER)
    page.goto("/admin/rules/earningrule/add/")
    page.fill("[name=name]", "Test drive booked")
    page.select_option("[name=kind]", "test_drive_booked")
    page.fill("[name=points]", "200")
    page.fill("[name=growth]", "20")
    page.fill("[name=cap_lifetime_count]", "1")
    page.locator("button[name=_save]").click()
    page.wait_for_url(lambda url: url.rstrip("/").endswith("/admin/rules/earningrule"))
    rule = EarningRule.objects.get(name="Test drive booked")
    assert rule.status == RuleStatus.DRAFT

    page.goto(f"/admin/rules/earningrule/{rule.pk}/change/")
    page.get_by_text("Simulate (last 30 days)").first.click()
    page.locator("[data-testid=rule-simulation]").wait_for()
    # Three members booked 1, 2 and 3 test drives; the lifetime cap of one pays each once.
    assert page.locator("[data-testid=sim-members]").inner_text() == "3"
    assert page.locator("[data-testid=sim-points]").inner_text().replace(",", "") == "600"
    assert page.locator("[data-testid=sim-stopped]").inner_text() == "3"
    screenshot("earning-rule-simulation")

    page.locator("[data-testid=sim-activate]").click()
    confirmation = page.locator("[data-testid=confirmation]")
    confirmation.wait_for()
    assert "600 points" in confirmation.inner_text()
    assert EarningRule.objects.get(pk=rule.pk).status == RuleStatus.DRAFT
    page.locator("button[name=confirm]").click()
    page.get_by_text("The rule is on.").first.wait_for()
    assert EarningRule.objects.get(pk=rule.pk).status == RuleStatus.ACTIVE

    newcomer = MemberFactory()
    answer = ingest(ApiClientFactory(), event(newcomer, kind="test_drive_booked", at=timezone.now() - timedelta(minutes=1)))
    assert answer["points_awarded"] == 200 and PointsAccount.objects.get(member=newcomer).balance == 200
