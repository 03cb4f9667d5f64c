"""What staff do most, in a real browser."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.analytics.services import rfm_score_members
from apps.core.roles import ANALYST, AUDITOR, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members import services
from apps.members.models import PointsAccount, Tier
from tests.analytics.factories import ActivityEventFactory
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def member():
    member = services.member_enrol(
        name="李娜",
        phone="+8613800138000",
        email="li.na@example.com",
        city="上海",
        external_id="CRM100042",
        tags=["车主", "高价值"],
        consents={"sms": True, "email": True, "push": False},
    )
    services.points_earn(member=member, amount=1200, reason="Purchase ORDER-1")
    services.growth_add(member=member, amount=1500, reason="Purchases")
    ActivityEventFactory(member=member, kind="purchase", amount=Decimal("1200.00"), occurred_at=timezone.now() - timedelta(days=2))
    rfm_score_members()
    return member


@pytest.fixture
def programme_members():
    """Enough members across the tiers for the dashboard in the README to look like a programme."""
    for code, count in (("basic", 46), ("silver", 21), ("gold", 9), ("vip", 2)):
        MemberFactory.create_batch(count, tier=Tier.objects.get(code=code))


def test_customer_service_finds_member_by_phone_and_adjusts_points(page, login_as, screenshot, programme_members, member):
    login_as(CUSTOMER_SERVICE)
    screenshot("dashboard", readme=True)
    page.goto("/admin/members/member/")
    page.fill("input[name=q]", "138-0013-8000")
    page.keyboard.press("Enter")
    page.get_by_role("link", name="李娜").first.click()
    page.get_by_text("Adjust points").first.click()
    page.fill("input[name=amount]", "200")
    page.fill("textarea[name=reason]", "Goodwill after a late delivery")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("the balance is now 1400").wait_for()
    page.get_by_text("Goodwill after a late delivery").first.wait_for()
    screenshot("member", readme=True)
    assert PointsAccount.objects.get(member=member).balance == 1400


def test_customer_service_limit_is_explained(page, login_as, member):
    login_as(CUSTOMER_SERVICE)
    page.goto(f"/admin/members/member/{member.pk}/adjust-points/")
    page.fill("input[name=amount]", "5000")
    page.fill("textarea[name=reason]", "Too generous")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("above what you may still adjust today (500 points)").wait_for()
    assert PointsAccount.objects.get(member=member).balance == 1200


def test_analyst_sees_masked_data_and_no_actions(page, login_as, member):
    login_as(ANALYST)
    page.goto("/admin/members/member/")
    assert "+86138****8000" in page.content() and "+8613800138000" not in page.content()
    page.goto(f"/admin/members/member/{member.pk}/change/")
    assert page.get_by_text("Adjust points").count() == 0
    assert "l***@example.com" in page.content()


def test_operations_manager_freezes_a_member(page, login_as, member):
    login_as(OPERATIONS_MANAGER)
    page.goto(f"/admin/members/member/{member.pk}/change/")
    actions = page.get_by_test_id("member-actions")
    assert actions.get_by_role("link", name="Unfreeze", exact=True).count() == 0
    actions.get_by_role("link", name="Freeze", exact=True).click()
    page.get_by_test_id("action-explanation").filter(has_text="until unfrozen").wait_for()
    page.fill("textarea[name=reason]", "Suspected account sharing")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("The member is frozen.").wait_for()
    member.refresh_from_db()
    assert member.status == "frozen"
    page.get_by_test_id("member-status").filter(has_text="Frozen").wait_for()
    page.get_by_text("Reason: Suspected account sharing").wait_for()
    assert actions.get_by_role("link", name="Freeze", exact=True).count() == 0
    assert actions.get_by_role("link", name="Unfreeze", exact=True).is_visible()
    assert actions.get_by_role("link", name="Close membership", exact=True).is_visible()
    actions.get_by_text("It cannot be undone.").wait_for()


@pytest.mark.parametrize("role", [OPERATIONS_MANAGER, CUSTOMER_SERVICE, CAMPAIGN_MANAGER, ANALYST, AUDITOR])
def test_member_page_reads_as_a_profile_for_each_role(page, login_as, member, role):
    login_as(role)
    page.goto(f"/admin/members/member/{member.pk}/change/")
    profile = page.get_by_test_id("member-profile")
    profile.get_by_role("heading", name="李娜").wait_for()
    for shown in ("Silver", "1,200", "1,500", "车主", "高价值", "✓ SMS", "✗ App push", "RFM segment", "Last activity"):
        assert profile.get_by_text(shown).first.is_visible(), shown
    assert profile.get_by_text("3,500 more to Gold (5,000)").is_visible()  # the next tier, with the progress towards it
    assert page.locator("progress.userops-profile-progress").is_visible()
    full = role in (OPERATIONS_MANAGER, CUSTOMER_SERVICE)
    assert profile.get_by_text("+8613800138000" if full else "+86138****8000").is_visible()
    assert "+8613800138000" not in page.content() or full
    edit = page.get_by_text("Edit profile")
    if full:
        assert not page.locator("input[name=name]").is_visible()  # folded until staff choose to edit
        edit.click()
        assert page.locator("input[name=name]").is_visible()
        assert page.get_by_test_id("member-actions").get_by_role("link", name="Adjust points").is_visible()
    else:
        assert edit.count() == 0 and page.get_by_test_id("member-actions").count() == 0
    assert page.get_by_text("Member object").count() == 0


def test_switch_to_chinese_is_remembered(page, login_as, member):
    user = login_as(OPERATIONS_MANAGER)
    page.goto("/admin/members/member/")
    with page.expect_navigation():
        page.evaluate("document.querySelector('form input[name=language][value=\"zh-hans\"]').form.submit()")
    page.goto("/admin/members/member/")
    assert "会员" in page.content()
    user.refresh_from_db()
    assert user.language == "zh-hans"
    page.context.clear_cookies()
    login_as(OPERATIONS_MANAGER, username=user.username)
    page.goto("/admin/")
    assert "会员" in page.content()
