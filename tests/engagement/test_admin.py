"""The back office: task pages, their counts and actions, refusals on the form, and who may do what."""

import pytest
from django.urls import reverse

from apps.core.roles import ANALYST, CAMPAIGN_MANAGER, CUSTOMER_SERVICE
from apps.engagement import services
from apps.engagement.models import Task, TaskStatus
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
