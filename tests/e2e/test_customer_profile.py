"""An agent reads a member's customer profile and pages its timeline in a real browser, in English and in 中文."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.roles import CUSTOMER_SERVICE
from tests.benefits.factories import GrantFactory
from tests.members.factories import ConsentFactory, MemberFactory, PointsEntryFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def member():
    member = MemberFactory(name="李雷")
    ConsentFactory(member=member, channel="sms", granted=True)
    member.tags.create(name="车主")
    start = timezone.now() - timedelta(days=60)
    for day in range(40):
        PointsEntryFactory(account=member.points_account, kind="earn", amount=10 + day, created_at=start + timedelta(days=day))
    GrantFactory(member=member)
    return member


def _items(page):
    return page.locator("[data-testid=timeline-item]")


def test_agent_reads_the_profile_and_pages_the_timeline(page, login_as, screenshot, member):
    login_as(CUSTOMER_SERVICE)
    page.goto("/admin/members/member/")
    with page.expect_navigation():
        page.get_by_role("link", name="李雷").first.click()
    assert re.search(rf"/member/{member.pk}/profile/", page.url)
    page.get_by_test_id("customer-profile").wait_for()
    assert member.phone in page.get_by_test_id("member-profile").inner_text()
    for section in ("consents", "tags", "benefits"):
        assert page.get_by_test_id(f"profile-section-{section}").is_visible()
    assert "车主" in page.get_by_test_id("profile-section-tags").inner_text()
    first_page = _items(page).all_inner_texts()
    assert len(first_page) == 25
    screenshot("customer-profile")

    with page.expect_navigation():
        page.get_by_test_id("timeline-older").click()
    second_page = _items(page).all_inner_texts()
    # 40 ledger entries, a grant and the enrolment: 17 left after the first 25.
    assert len(second_page) == 17
    assert not set(first_page) & set(second_page)
    assert page.get_by_test_id("timeline-older").count() == 0
    with page.expect_navigation():
        page.get_by_test_id("timeline-newer").click()
    assert _items(page).all_inner_texts() == first_page

    # Only the points ledger: every row is a ledger entry.
    page.get_by_label("Points", exact=True).check()
    with page.expect_navigation():
        page.get_by_test_id("timeline-apply").click()
    sources = _items(page).evaluate_all("rows => rows.map(row => row.dataset.source)")
    assert set(sources) == {"points"} and len(sources) == 25


def test_the_profile_in_chinese(page, login_as, screenshot, member):
    user = login_as(CUSTOMER_SERVICE)
    page.goto("/admin/")
    page.get_by_text(user.username, exact=True).click()
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("简体中文")).click()
    page.goto(f"/admin/members/member/{member.pk}/profile/")
    text = page.get_by_test_id("customer-profile").inner_text()
    for words in ("时间线", "营销授权", "标签", "当前权益", "更早"):
        assert words in text, words
    with page.expect_navigation():
        page.get_by_test_id("timeline-older").click()
    assert _items(page).count() == 17
    page.get_by_test_id("timeline-newer").wait_for()
    screenshot("zh-hans-customer-profile")
