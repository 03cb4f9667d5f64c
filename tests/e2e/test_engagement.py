"""Staff create a task in the back office and see a member's progress and badges on the member page."""

import pytest
from django.utils import timezone

from apps.analytics.services import activity_record
from apps.benefits import services as benefit_services
from apps.benefits.models import GrantSource
from apps.core.roles import CAMPAIGN_MANAGER, CUSTOMER_SERVICE
from apps.engagement.models import Task
from tests.engagement.factories import BadgeFactory
from tests.members.factories import MemberFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_staff_create_a_task_and_see_a_members_progress_and_badges(page, open_page, login_as, screenshot):
    badge = BadgeFactory(name="活跃车主")
    login_as(CAMPAIGN_MANAGER)
    page.goto("/admin/engagement/task/add/")
    page.fill("input[name=code]", "attend-3")
    page.fill("input[name=title_en]", "Attend 3 events this quarter")
    page.fill("input[name=title_zh_hans]", "本季度参加 3 场活动")
    page.select_option("select[name=goal]", "count")
    page.select_option("select[name=activity_kind]", "event_attendance")
    page.fill("input[name=target]", "3")
    page.select_option("select[name=window]", "quarter")
    page.fill("input[name=reward_points]", "0")
    page.locator("[name=_save]").first.click()
    # No reward: refused on the form, nothing saved.
    page.get_by_text("Give a reward: points, growth value, a benefit or a badge.").first.wait_for()
    assert not Task.objects.exists()
    page.fill("input[name=reward_points]", "300")
    page.select_option("select[name=reward_badge]", str(badge.pk))
    page.locator("[name=_save]").first.click()
    page.get_by_text("Attend 3 events this quarter").first.wait_for()
    task = Task.objects.get(code="attend-3")
    assert (task.target, task.window, task.reward_points, task.reward_badge_id) == (3, "quarter", 300, badge.pk)

    member = MemberFactory(name="王芳")
    for n in range(2):
        activity_record(member_id=member.pk, kind="event_attendance", event_id=f"attend-{n}", occurred_at=timezone.now())
    early = BadgeFactory(name="早鸟")
    benefit_services.grant_issue(benefit=early, member=member, source=GrantSource.STAFF)

    service = open_page()
    login_as(CUSTOMER_SERVICE, on=service)
    service.goto(f"/admin/members/member/{member.pk}/change/")
    section = service.locator(".userops-engagement")
    section.get_by_text("Attend 3 events this quarter").wait_for()
    assert section.get_by_text("2 of 3").is_visible()
    assert section.get_by_text("早鸟").is_visible()
    assert service.get_by_text("Never expires").first.is_visible()  # the badge's grant in the member's benefits
    activity_record(member_id=member.pk, kind="event_attendance", event_id="attend-2", occurred_at=timezone.now())
    # The completion's badge is a pending grant until the worker issues it (docs/rules.md, lock order in the ingest).
    assert not section.get_by_text("活跃车主").is_visible()
    benefit_services.grants_pending_issue()
    service.reload()
    section.get_by_text("活跃车主").wait_for()  # the task's badge, granted on completion
    assert section.get_by_text("3 of 3").is_visible()
    screenshot("member-engagement", on=service)
