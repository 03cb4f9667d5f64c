"""A customer-service agent takes a complaint from the queue to close; a campaign manager writes a survey that a member
answers through the API with their signed link, and the results page shows the NPS."""

import re

import pytest

from apps.core.roles import CAMPAIGN_MANAGER, CUSTOMER_SERVICE
from apps.feedback import services
from apps.feedback.models import FeedbackItem, FeedbackReply, FeedbackStatus, Survey, SurveyResponse, SurveyStatus
from apps.messaging.models import MessagePurpose
from apps.messaging.services import message_enqueue
from tests.e2e.test_chinese import VISIBLE_TEXT, english_left
from tests.feedback.factories import FeedbackCategoryFactory
from tests.members.factories import MemberFactory
from tests.messaging.factories import MessageTemplateFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def complaint() -> FeedbackItem:
    category = FeedbackCategoryFactory(code="charging", name="充电", sla_hours=24)
    return services.feedback_create(
        member=MemberFactory(name="王强"), category=category, subject="充电桩无法启动", body="昨晚在徐汇门店充电失败"
    )


def _act(page, name: str) -> None:
    """Open an item's action page by its button (whose accessible name starts with the icon's ligature)."""
    with page.expect_navigation():
        page.get_by_role("link", name=re.compile(r"(^|\s)" + re.escape(name) + r"$")).first.click()


def _confirm(page, button: str = "Confirm") -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


def test_an_agent_handles_a_complaint_from_the_queue_to_close(page, login_as, screenshot, complaint):
    agent = login_as(CUSTOMER_SERVICE)
    page.goto("/admin/feedback/feedbackitem/?queue=unassigned")
    page.get_by_text("充电桩无法启动").first.wait_for()
    with page.expect_navigation():
        page.get_by_role("link", name=str(complaint.pk), exact=True).click()
    page.get_by_text("Open", exact=True).first.wait_for()

    _act(page, "Take")
    page.get_by_text("It becomes yours (if nobody has it) and in progress.").wait_for()
    _confirm(page)
    page.get_by_text("You are handling it.").wait_for()
    page.get_by_text("In progress", exact=True).first.wait_for()

    _act(page, "Reply")
    _confirm(page)  # an empty reply is refused on its field and saves nothing
    page.get_by_text("This field is required.").wait_for()
    assert not FeedbackReply.objects.filter(item=complaint).exists()
    page.fill("textarea[name=body]", "您好，工程师今天下午会联系您。")
    _confirm(page)
    page.get_by_text("Reply saved.").wait_for()
    assert "您好，工程师今天下午会联系您。" in page.content()  # in the replies inline
    assert FeedbackReply.objects.get(item=complaint).body == "您好，工程师今天下午会联系您。"

    _act(page, "Resolve")
    page.fill("textarea[name=resolution]", "已更换充电模块，可以正常充电。")
    _confirm(page)
    page.get_by_text("Resolved.", exact=True).wait_for()

    _act(page, "Close")
    page.get_by_text("Closed for good; the member is asked how satisfied they are.").wait_for()
    _confirm(page)
    page.get_by_text("Closed.", exact=True).wait_for()
    screenshot("feedback-item-closed")

    _act(page, "Reply")  # a closed item takes no more replies: the page says so and offers no form
    page.get_by_text("This item is closed.").wait_for()
    assert page.locator("textarea[name=body]").count() == 0

    complaint.refresh_from_db()
    assert (complaint.status, complaint.assignee) == (FeedbackStatus.CLOSED, agent)
    assert list(complaint.status_changes.values_list("to_status", flat=True)) == ["open", "in_progress", "resolved", "closed"]


def test_in_chinese_the_agent_resolves_and_closes_a_complaint(page, login_as, screenshot, complaint):
    user = login_as(CUSTOMER_SERVICE)
    page.goto("/admin/")
    page.get_by_text(user.username, exact=True).click()
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("简体中文")).click()
    data = {user.username, user.email, "王强", "充电", "充电桩无法启动", "昨晚在徐汇门店充电失败", f"#{complaint.pk}"}

    page.goto("/admin/feedback/feedbackitem/?queue=unassigned")
    page.get_by_text("充电桩无法启动").first.wait_for()
    assert english_left(page.evaluate(VISIBLE_TEXT), data) == []
    screenshot("zh-hans-feedback-queue")

    page.goto(f"/admin/feedback/feedbackitem/{complaint.pk}/change/")
    _act(page, "办结")
    page.get_by_text("会员可看到处理结果并可回复；会员回复后工单将重新打开。").wait_for()
    assert english_left(page.evaluate(VISIBLE_TEXT), data) == []
    page.fill("textarea[name=resolution]", "已远程重置充电桩。")
    _confirm(page, "确认")
    page.get_by_text("已办结。").wait_for()
    _act(page, "关闭")
    _confirm(page, "确认")
    page.get_by_text("已关闭。").wait_for()
    page.get_by_text("已关闭", exact=True).first.wait_for()
    assert english_left(page.evaluate(VISIBLE_TEXT), data | {"已远程重置充电桩。"}) == []
    screenshot("zh-hans-feedback-item-closed")
    assert FeedbackItem.objects.get(pk=complaint.pk).status == FeedbackStatus.CLOSED


def test_a_campaign_manager_writes_a_survey_members_answer_it_through_their_link_and_the_results_show_the_nps(
    page, login_as, screenshot, member_client
):
    MessageTemplateFactory(code="survey-invite", body_en="Tell us: {{ survey_url }}", body_zh_hans="请评价：{{ survey_url }}")
    login_as(CAMPAIGN_MANAGER)
    page.goto("/admin/feedback/survey/add/")
    page.fill("input[name=code]", "after-delivery")
    page.fill("input[name=title]", "After your delivery")
    page.fill("input[name=message_template_code]", "survey-invite")
    page.get_by_text(re.compile("Add another")).first.click()
    page.fill("input[name=questions-0-position]", "1")
    page.select_option("select[name=questions-0-kind]", "text")
    page.fill("input[name=questions-0-text]", "What could we do better?")
    with page.expect_navigation():
        page.locator("button[name=_continue]").click()
    survey = Survey.objects.get(code="after-delivery")
    assert (survey.status, survey.questions.count()) == (SurveyStatus.DRAFT, 1)

    _act(page, "Open for answers")
    page.get_by_text("Its questions are then fixed").wait_for()
    _confirm(page)
    page.get_by_text("The survey is open.").wait_for()

    for score, text in [(10, "Fast and friendly"), (9, ""), (4, "The car came two days late")]:
        api, member = member_client()
        invite = message_enqueue(
            member=member,
            template_code="survey-invite",
            context={},
            dedupe_key=f"survey-invite:{member.pk}",
            channel="sms",
            purpose=MessagePurpose.SERVICE,
        )
        token = invite.body.rsplit("/me/surveys/", 1)[1].strip("/")
        shown = api.get(f"/api/v1/me/surveys/{token}/")
        assert shown.status_code == 200 and shown.json()["answered"] is False
        question = shown.json()["questions"][0]["id"]
        answered = api.post(
            f"/api/v1/me/surveys/{token}/",
            {"nps_score": score, "answers": {str(question): text}},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"answer:{member.pk}",
        )
        assert answered.status_code == 201, answered.json()
        again = api.post(f"/api/v1/me/surveys/{token}/", {"nps_score": 0}, format="json", HTTP_IDEMPOTENCY_KEY=f"again:{member.pk}")
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_answered"
    assert SurveyResponse.objects.filter(survey=survey).count() == 3

    page.goto("/admin/feedback/survey/")
    with page.expect_navigation():
        page.get_by_role("link", name="Results").first.click()
    nps = page.get_by_test_id("survey-nps")
    nps.filter(has_text="NPS: 33.3").wait_for()
    assert "promoters 2, passives 0, detractors 1" in nps.inner_text()
    # A campaign manager sees members masked: free text, which may name the member, is not shown to them.
    page.get_by_test_id("text-answers-hidden").wait_for()
    assert "The car came two days late" not in page.content()
    screenshot("survey-results")
