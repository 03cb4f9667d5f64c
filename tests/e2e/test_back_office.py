"""What staff do most, in a real browser."""

import pytest

from apps.core.roles import ANALYST, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.members import services
from apps.members.models import PointsAccount, Tier
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def member():
    member = MemberFactory(name="李娜", phone="+8613800138000", email="li.na@example.com", city="上海")
    services.points_earn(member=member, amount=1200, reason="Purchase ORDER-1")
    services.growth_add(member=member, amount=1500, reason="Purchases")
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
    page.get_by_text("Freeze").first.click()
    page.fill("textarea[name=reason]", "Suspected account sharing")
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("The member is frozen.").wait_for()
    member.refresh_from_db()
    assert member.status == "frozen"


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
