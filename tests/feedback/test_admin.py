from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.core.roles import ANALYST, AUDITOR, CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.feedback import services
from apps.feedback.models import FeedbackItem, FeedbackStatus, SurveyResponse
from tests.campaigns.factories import SegmentFactory
from tests.feedback.factories import FeedbackCategoryFactory, SurveyFactory, SurveyQuestionFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _item(**kwargs):
    return services.feedback_create(
        member=MemberFactory(), category=FeedbackCategoryFactory(sla_hours=2), subject="Late delivery", body="b", **kwargs
    )


def test_the_agent_queue_shows_my_items_with_overdue_highlighted(client, staff):
    agent = staff(CUSTOMER_SERVICE)
    late = _item(assignee=agent, now=timezone.now() - timedelta(hours=3))
    _item()
    client.force_login(agent)
    page = client.get(reverse("admin:feedback_feedbackitem_changelist") + "?queue=mine")
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [late]
    assert b'data-overdue="1"' in page.content


def test_an_agent_handles_a_complaint_to_close_through_the_action_pages(client, staff):
    agent = staff(CUSTOMER_SERVICE)
    item = _item()
    client.force_login(agent)
    base = f"/admin/feedback/feedbackitem/{item.pk}"
    assert client.post(f"{base}/take/").status_code == 302
    assert client.post(f"{base}/resolve/", {"resolution": "Sent a new cable."}).status_code == 302
    refused = client.post(f"{base}/resolve/", {"resolution": "again"})
    assert refused.status_code == 200
    assert client.post(f"{base}/close/").status_code == 302
    item.refresh_from_db()
    assert item.status == FeedbackStatus.CLOSED and item.assignee == agent


def test_low_roles_cannot_handle_feedback_or_read_results_by_url(client, staff):
    item = _item()
    survey = SurveyFactory()
    for role in (ANALYST, AUDITOR, CAMPAIGN_MANAGER):
        client.force_login(staff(role))
        assert client.post(f"/admin/feedback/feedbackitem/{item.pk}/close/").status_code in (302, 403)
        assert FeedbackItem.objects.get(pk=item.pk).status == FeedbackStatus.OPEN
    client.force_login(staff(AUDITOR))
    assert client.get(reverse("admin:feedback_survey_results", args=[survey.pk])).status_code == 403
    client.force_login(staff(CUSTOMER_SERVICE))
    assert client.get(reverse("admin:feedback_survey_results", args=[survey.pk])).status_code == 403


def test_analysts_read_survey_results(client, staff):
    survey = SurveyFactory()
    SurveyResponse.objects.create(survey=survey, member=MemberFactory(), nps_score=10)
    client.force_login(staff(ANALYST))
    page = client.get(reverse("admin:feedback_survey_results", args=[survey.pk]))
    assert page.status_code == 200 and page.context["overall"].score == 100


def test_the_member_page_offers_new_feedback_with_the_member_filled_in(client, staff):
    member = MemberFactory(name="王强")
    add_url = reverse("admin:feedback_feedbackitem_add") + f"?member={member.pk}"
    client.force_login(staff(CUSTOMER_SERVICE))
    member_page = client.get(reverse("admin:members_member_change", args=[member.pk]))
    assert member_page.status_code == 200 and add_url in member_page.content.decode()
    form = client.get(add_url)
    assert form.status_code == 200 and str(form.context["adminform"].form["member"].value()) == str(member.pk)
    assert "王强" in form.content.decode()
    for role in (ANALYST, AUDITOR, CAMPAIGN_MANAGER):
        client.force_login(staff(role))
        assert add_url not in client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
        assert client.get(add_url).status_code == 403


def test_the_customer_profile_shows_complaints_only_to_roles_that_read_feedback(client, staff):
    item = services.feedback_create(
        member=MemberFactory(), category=FeedbackCategoryFactory(), subject="Dealer was rude to my wife", body="b"
    )
    url = reverse("admin:members_member_profile", args=[item.member_id])
    for role in (CAMPAIGN_MANAGER, AUDITOR, ANALYST):
        client.force_login(staff(role))
        page = client.get(url)
        assert page.status_code == 200, role
        assert b"Dealer was rude" not in page.content, role
        assert b'data-testid="profile-section-feedback"' not in page.content, role
    client.force_login(staff(CUSTOMER_SERVICE))
    page = client.get(url)
    assert b"Dealer was rude" in page.content
    assert b'data-testid="profile-section-feedback"' in page.content


def test_staff_without_personal_data_read_no_group_small_enough_to_single_out_a_member_nor_free_text(client, staff):
    survey = SurveyFactory()
    question = SurveyQuestionFactory(survey=survey, kind="text")
    members = MemberFactory.create_batch(6)
    members[0].status = "frozen"
    members[0].save(update_fields=["status"])
    for number, member in enumerate(members):
        answers = {str(question.pk): "王先生 13900001111 说交车晚了"} if number == 0 else {}
        SurveyResponse.objects.create(survey=survey, member=member, nps_score=0 if number == 0 else 10, answers=answers)
    one_member = SegmentFactory(rules={"op": "and", "conditions": [{"field": "status", "value": ["frozen"]}]})
    url = reverse("admin:feedback_survey_results", args=[survey.pk]) + f"?segment={one_member.pk}"

    client.force_login(staff(ANALYST))
    page = client.get(url)
    assert page.status_code == 200 and page.context["overall"].responses == 6
    assert page.context["segment_nps"] is None and page.context["segment_too_small"]
    assert all(group.nps.responses >= 5 for _label, groups in page.context["breakdowns"] for group in groups)
    assert page.context["texts"] is None and "13900001111" not in page.content.decode()

    client.force_login(staff(OPERATIONS_MANAGER))
    page = client.get(url)
    inside, outside = page.context["segment_nps"]
    assert (inside.responses, inside.detractors, outside.responses) == (1, 1, 5)
    assert [text["answer"] for text in page.context["texts"]] == ["王先生 13900001111 说交车晚了"]
