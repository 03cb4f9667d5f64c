"""The back office: task pages, their counts and actions, refusals on the form, and who may do what."""

import pytest
from django.urls import reverse
from django.utils import translation

from apps.benefits.models import Grant
from apps.core.roles import ANALYST, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.engagement import services
from apps.engagement.models import Task, TaskStatus
from apps.members.models import Tier
from tests.engagement.factories import TaskFactory, activity
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_the_task_page_counts_members_in_progress_and_completed(client, staff):
    task = TaskFactory(target=2)
    done, going = MemberFactory(), MemberFactory()
    services.task_progress_record([activity(done), activity(done), activity(going)])
    client.force_login(staff(CAMPAIGN_MANAGER))
    html = client.get(reverse("admin:engagement_task_change", args=[task.pk])).content.decode()
    assert "This window: 1 members in progress, 1 completed." in html
    assert "1 completion in all" in html


def test_a_refused_task_is_a_form_error_and_nothing_is_saved(client, staff):
    client.force_login(staff(CAMPAIGN_MANAGER))
    data = {
        "code": "once-3",
        "title_en": "Complete the profile",
        "title_zh_hans": "完善个人资料",
        "goal": "once",
        "activity_kind": "profile_completed",
        "target": "3",
        "window": "none",
        "reward_points": "100",
        "reward_growth": "0",
    }
    answer = client.post(reverse("admin:engagement_task_add"), data)
    assert answer.status_code == 200 and "A task done once has a target of 1." in answer.content.decode()
    assert not Task.objects.exists()
    answer = client.post(reverse("admin:engagement_task_add"), {**data, "target": "1"})
    assert answer.status_code == 302 and Task.objects.get().code == "once-3"


def test_pause_is_a_post_and_only_for_those_who_manage_tasks(client, staff):
    task = TaskFactory()
    url = reverse("admin:engagement_task_pause", args=[task.pk])
    client.force_login(staff(CAMPAIGN_MANAGER))
    assert client.get(url).status_code == 200
    assert Task.objects.get().status == TaskStatus.ACTIVE  # GET only shows the page
    assert client.post(url, {}).status_code == 302
    assert Task.objects.get().status == TaskStatus.PAUSED
    for role in (CUSTOMER_SERVICE, ANALYST):
        client.force_login(staff(role, username=f"u-{role.split()[0].lower()}"))
        assert client.get(reverse("admin:engagement_task_change", args=[task.pk])).status_code == 200
        assert client.post(reverse("admin:engagement_task_activate", args=[task.pk]), {}).status_code == 403
    assert Task.objects.get().status == TaskStatus.PAUSED


def test_a_task_without_a_window_reads_no_window_not_a_placeholder_date(client, staff):
    task = TaskFactory(code="profile", activity_kind="profile_completed", goal="once", target=1, window="none", reward_points=100)
    member = MemberFactory()
    services.task_progress_record([activity(member, kind="profile_completed")])
    client.force_login(staff(OPERATIONS_MANAGER))
    pages = [
        reverse("admin:members_member_change", args=[member.pk]),
        reverse("admin:engagement_taskprogress_changelist"),
        reverse("admin:engagement_taskcompletion_changelist"),
    ]
    for url in pages:
        content = client.get(url).content.decode()
        assert task.title in content and "No window (counts from the start)" in content, url
        # The reward's ledger reference keeps the window start it was paid under: it is the award's idempotency key.
        shown = content.replace(f"task:{task.pk}:2000-01-01", "")
        assert "2000" not in shown, url


def test_a_task_code_is_not_called_a_grant_code_in_chinese(client, staff):
    """One catalogue word for "code" had made every code column read 权益码 (a benefit grant's code)."""
    TaskFactory(code="sign-in-7")
    client.force_login(staff(OPERATIONS_MANAGER, language="zh-hans"))
    tasks = client.get(reverse("admin:engagement_task_changelist")).content.decode()
    assert "编码" in tasks and "权益码" not in tasks
    tiers = client.get(reverse("admin:members_tier_changelist") + "?_=1").content.decode()
    assert "权益码" not in tiers
    with translation.override("zh-hans"):
        assert str(Grant._meta.get_field("code").verbose_name) == "权益码"
        assert str(Tier._meta.get_field("code").verbose_name) == "编码"
