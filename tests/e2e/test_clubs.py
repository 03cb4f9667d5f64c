"""Staff decide a club's pending join requests from the club page, in English and in 中文."""

import re

import pytest

from apps.core.roles import CUSTOMER_SERVICE
from apps.events.models import ClubJoinRequest, ClubMembership, JoinPolicy, JoinRequestStatus
from tests.e2e.test_chinese import VISIBLE_TEXT, english_left
from tests.events.factories import ClubFactory, ClubJoinRequestFactory, EventFactory
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def club() -> object:
    club = ClubFactory(name="上海车友会", join_policy=JoinPolicy.APPROVAL)
    EventFactory(club=club, title_en="Night drive", title_zh_hans="夜间自驾", members_only=True)
    return club


def test_staff_approve_a_pending_request_on_the_club_page(page, login_as, screenshot, club):
    pending = ClubJoinRequestFactory(club=club, member=MemberFactory(name="王强"), message="刚提车，想认识车友")
    login_as(CUSTOMER_SERVICE)
    page.goto(f"/admin/events/club/{club.pk}/change/")
    row = page.get_by_test_id(f"join-request-{pending.pk}")
    row.get_by_text("刚提车，想认识车友").wait_for()
    screenshot("club-page-pending-request")
    with page.expect_navigation():
        row.get_by_role("link", name="Approve").click()
    page.locator("#content").get_by_text("王强 → 上海车友会").wait_for()
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm").click()
    page.get_by_text("王强 joined 上海车友会.").wait_for()
    members = page.get_by_test_id("club-members")
    members.get_by_text("王强").wait_for()
    members.get_by_text("Request approved").wait_for()
    assert page.get_by_test_id("club-requests").get_by_text("No pending requests.").is_visible()
    assert ClubJoinRequest.objects.get(pk=pending.pk).status == JoinRequestStatus.APPROVED
    assert ClubMembership.objects.filter(club=club, member=pending.member, left_at__isnull=True).exists()


def test_in_chinese_staff_decline_with_a_reason_and_approve_another(page, login_as, screenshot, club):
    declined = ClubJoinRequestFactory(club=club, member=MemberFactory(name="赵敏"))
    approved = ClubJoinRequestFactory(club=club, member=MemberFactory(name="李雷"))
    user = login_as(CUSTOMER_SERVICE)
    page.goto("/admin/")
    page.get_by_text(user.username, exact=True).click()
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("简体中文")).click()

    page.goto(f"/admin/events/club/{club.pk}/change/")
    page.get_by_text("待审批的入会申请").first.wait_for()
    data = {user.username, user.email, "Night drive", "上海车友会", "赵敏", "李雷"}
    assert english_left(page.evaluate(VISIBLE_TEXT), data) == []
    screenshot("zh-hans-club-page-pending-requests")

    with page.expect_navigation():
        page.get_by_test_id(f"join-request-{declined.pk}").get_by_role("link", name="拒绝").click()
    with page.expect_navigation():
        page.get_by_role("button", name="确认").click()  # no reason: refused on the field, nothing changes
    page.get_by_text("此字段必填。").wait_for()
    assert ClubJoinRequest.objects.get(pk=declined.pk).status == JoinRequestStatus.PENDING
    page.fill("textarea[name=reason]", "仅限车主加入")
    with page.expect_navigation():
        page.get_by_role("button", name="确认").click()
    page.get_by_text("已拒绝 赵敏 的申请。").wait_for()

    with page.expect_navigation():
        page.get_by_test_id(f"join-request-{approved.pk}").get_by_role("link", name="批准").click()
    with page.expect_navigation():
        page.get_by_role("button", name="确认").click()
    page.get_by_text("李雷 已加入上海车友会。").wait_for()
    page.get_by_test_id("club-members").get_by_text("申请已批准").wait_for()
    page.get_by_text("没有待审批的申请。").wait_for()
    assert english_left(page.evaluate(VISIBLE_TEXT), data) == []
    screenshot("zh-hans-club-page-after-decisions")
    stored = ClubJoinRequest.objects.get(pk=declined.pk)
    assert (stored.status, stored.reason) == (JoinRequestStatus.DECLINED, "仅限车主加入")
