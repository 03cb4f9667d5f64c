"""The tier what-if page in a real browser: try a spend condition, see the counts, change nothing, then save; in 中文."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.roles import OPERATIONS_MANAGER
from apps.members import services
from apps.members.models import Member, Tier
from tests.analytics.factories import purchase
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def gold_members():
    """Four gold members by growth value; one of them spent 9000 in the window."""
    members = []
    for _ in range(4):
        member = MemberFactory()
        services.growth_add(member=member, amount=6000, reason="Purchase")
        members.append(member)
    purchase(members[0], timezone.now() - timedelta(days=3), "9000.00")
    return members


def _row(page, name: str):
    return page.locator("[data-testid=what-if-row]", has_text=name)


def test_try_a_spend_condition_then_save_it(page, login_as, screenshot, gold_members):
    login_as(OPERATIONS_MANAGER)
    page.goto("/admin/members/tier/")
    page.get_by_text("What if: try thresholds").first.click()
    page.wait_for_url(re.compile(r"/tier/what-if/"))
    gold = Tier.objects.get(code="gold")
    assert _row(page, "Gold").locator("[data-testid=count-now]").inner_text() == "4"
    assert page.locator(f"input[name=threshold_{gold.pk}]").input_value() == "5000"

    page.fill(f"input[name=min_spend_{gold.pk}]", "8000")
    with page.expect_navigation():
        page.get_by_role("button", name="Show the effect").click()
    gold_row = _row(page, "Gold")
    assert gold_row.locator("[data-testid=count-qualified]").inner_text() == "1"
    # The members reached gold within the guarantee period: an evaluation today keeps them there.
    assert gold_row.locator("[data-testid=count-after]").inner_text() == "4"
    assert page.locator(f"input[name=min_spend_{gold.pk}]").input_value() == "8000"
    screenshot("tier-what-if")
    gold.refresh_from_db()
    assert gold.min_spend is None  # trying changed nothing

    # A wrong value is refused on its field, and nothing is saved.
    page.fill(f"input[name=threshold_{gold.pk}]", "10")
    with page.expect_navigation():
        page.get_by_role("button", name="Save these thresholds").click()
    page.get_by_text("Thresholds must rise with rank").first.wait_for()
    gold.refresh_from_db()
    assert (gold.threshold, gold.min_spend) == (5000, None)

    page.fill(f"input[name=threshold_{gold.pk}]", "5000")
    with page.expect_navigation():
        page.get_by_role("button", name="Save these thresholds").click()
    page.get_by_text("Thresholds saved for 1 tier(s)").wait_for()
    gold.refresh_from_db()
    assert gold.min_spend == Decimal("8000.00")
    assert Member.objects.filter(tier=gold).count() == 4  # saving changes thresholds, not members: the evaluation does


def test_what_if_page_in_chinese(page, login_as, screenshot, gold_members):
    user = login_as(OPERATIONS_MANAGER)
    page.goto("/admin/")
    # Switch the way staff do: the account menu at the foot of the sidebar, then 简体中文.
    page.get_by_text(user.username, exact=True).click()
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("简体中文")).click()
    page.goto("/admin/members/tier/what-if/")
    page.get_by_text("等级门槛模拟").first.wait_for()
    assert _row(page, "金卡会员").locator("[data-testid=count-now]").inner_text() == "4"
    gold = Tier.objects.get(code="gold")
    page.fill(f"input[name=min_purchases_{gold.pk}]", "1")
    with page.expect_navigation():
        page.get_by_role("button", name="显示效果").click()
    assert _row(page, "金卡会员").locator("[data-testid=count-qualified]").inner_text() == "1"
    page.get_by_text("按这些条件评估后").wait_for()
    page.get_by_role("button", name="保存这些门槛").wait_for()
    screenshot("zh-hans-tier-what-if")
    gold.refresh_from_db()
    assert gold.min_purchases is None
