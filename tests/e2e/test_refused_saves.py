"""A save the service refuses, in a real browser: the error on the page, what was typed still there, nothing saved."""

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from apps.benefits.models import Benefit
from apps.campaigns.models import Campaign, CampaignStatus
from apps.core.models import User
from apps.core.roles import CAMPAIGN_MANAGER, CUSTOMER_SERVICE, OPERATIONS_MANAGER
from apps.events.models import Event
from apps.members import services as member_services
from apps.members.models import AdjustmentState, PointsAccount, PointsAdjustment, Tier
from apps.messaging.models import MessageTemplate
from tests.campaigns.factories import CampaignFactory, SegmentFactory
from tests.members.factories import MemberFactory
from tests.messaging.factories import MessageTemplateFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Sets form values the way a person's typing ends up in the form, including fields on hidden translation tabs.
SET_VALUES = """values => {
    for (const [name, value] of Object.entries(values)) {
        const input = document.querySelector(`[name="${name}"]`);
        if (input.tagName === 'SELECT' && ![...input.options].some(o => o.value === String(value))) {
            input.add(new Option(String(value), String(value)));
        }
        if (input.type === 'checkbox') { input.checked = Boolean(value); } else { input.value = value; }
    }
}"""


@dataclass
class RefusedSave:
    url: str
    values: dict[str, object]
    error: str
    kept: tuple[str, str]
    nothing_saved: Callable[[], bool]
    setup: Callable[[], object] = field(default=lambda: None)


def refused_saves() -> dict[str, RefusedSave]:
    return {
        "members: a tier whose threshold does not rise with rank": RefusedSave(
            url="/admin/members/tier/add/",
            values={"code": "platinum", "name_en": "Platinum", "rank": 9, "threshold": 1, "points_multiplier": "1.50"},
            error="Thresholds must rise with rank.",
            kept=("name_en", "Platinum"),
            nothing_saved=lambda: not Tier.objects.filter(code="platinum").exists(),
        ),
        "messaging: a template that does not compile": RefusedSave(
            url="/admin/messaging/messagetemplate/add/",
            values={"code": "spring", "channel": "sms", "body_en": "Hi {% if name %}", "body_zh_hans": "您好"},
            error="does not compile",
            kept=("body_en", "Hi {% if name %}"),
            nothing_saved=lambda: not MessageTemplate.objects.filter(code="spring").exists(),
        ),
        "benefits: a benefit without validity": RefusedSave(
            url="/admin/benefits/benefit/add/",
            values={"name_en": "Car wash", "kind": "fixed_coupon", "face_value": "80", "unit_cost": "30", "status": "active"},
            error="Give a fixed validity window or a number of days after grant.",
            kept=("name_en", "Car wash"),
            nothing_saved=lambda: not Benefit.objects.filter(name_en="Car wash").exists(),
        ),
        "events: an offline event without a venue": RefusedSave(
            url="/admin/events/event/add/",
            values={
                "title_en": "Night drive",
                "kind": "offline",
                "city": "上海",
                "venue": "",
                "starts_at_0": "2030-05-01",
                "starts_at_1": "19:00",
                "ends_at_0": "2030-05-01",
                "ends_at_1": "22:00",
                "capacity": "20",
            },
            error="An offline event needs a venue.",
            kept=("title_en", "Night drive"),
            nothing_saved=lambda: not Event.objects.filter(title_en="Night drive").exists(),
        ),
    }


@pytest.mark.parametrize("case", list(refused_saves()))
def test_a_refused_save_shows_the_error_and_keeps_the_input(page, login_as, screenshot, case):
    refused = refused_saves()[case]
    refused.setup()
    login_as(superuser=True)
    page.goto(refused.url)
    page.evaluate(SET_VALUES, refused.values)
    page.locator("button[name=_save]").click()
    page.get_by_text(refused.error).first.wait_for()
    name, value = refused.kept
    assert page.locator(f"[name={name}]").input_value() == value
    assert "successfully" not in page.content()
    assert refused.nothing_saved()
    screenshot(f"refused-save-{case.split(':')[0]}")


def campaign_values(segment_pk: int) -> dict[str, object]:
    return {"name": "春季召回", "segment": segment_pk, "message_channel": "push", "message_template_code": "welcome", "points_amount": ""}


@pytest.mark.parametrize(
    ("language", "error"),
    [("en", "No active template with this code for this channel."), ("zh-hans", "该渠道没有此代码的已启用模板。")],
)
def test_a_campaign_the_service_refuses_keeps_the_form_in_both_languages(page, login_as, screenshot, language, error):
    MessageTemplateFactory(code="welcome", channel="sms")
    segment = SegmentFactory(name="上海金卡会员")
    user = login_as(CAMPAIGN_MANAGER)
    User.objects.filter(pk=user.pk).update(language=language)
    page.goto("/admin/campaigns/campaign/add/")
    page.evaluate(SET_VALUES, campaign_values(segment.pk))
    page.locator("button[name=_save]").click()
    page.get_by_text(error).first.wait_for()
    assert page.locator("[name=name]").input_value() == "春季召回"
    assert not Campaign.objects.filter(name="春季召回").exists()
    screenshot(f"refused-campaign-{language}")


def test_campaign_page_launches_after_confirmation_and_a_finished_one_is_read_only(page, login_as, screenshot):
    MemberFactory.create_batch(2)
    MessageTemplateFactory(code="welcome", channel="sms", body_en="Hi {{ name }}, spring service week is on.")
    campaign = CampaignFactory(name="Spring service week", message_channel="sms", message_template_code="welcome")
    login_as(CAMPAIGN_MANAGER)
    page.goto(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    page.get_by_text("Hi Li Na, spring service week is on.").wait_for()
    transitions = page.get_by_test_id("campaign-transitions")
    assert transitions.get_by_role("button", name="Pause").count() == 0
    screenshot("campaign-page")
    transitions.get_by_role("button", name="Launch now").click()
    page.get_by_text("Launch Spring service week now? It acts on 2 members").wait_for()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("The campaign was launched.").wait_for()
    page.get_by_test_id("campaign-transitions").get_by_role("button", name="Pause").click()
    page.get_by_text("The campaign is paused.").wait_for()
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.COMPLETED)
    page.goto(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    page.get_by_test_id("campaign-closed").wait_for()
    assert page.locator("button[name=_save]").count() == 0 and page.get_by_test_id("campaign-transitions").count() == 0


def test_large_adjustment_is_confirmed_then_approved_by_another_person(open_page, login_as, screenshot):
    member = MemberFactory(name="李娜")
    member_services.points_earn(member=member, amount=1200, reason="Purchase")
    agent_page = open_page()
    login_as(CUSTOMER_SERVICE, on=agent_page)
    agent_page.goto(f"/admin/members/member/{member.pk}/adjust-points/")
    agent_page.fill("input[name=amount]", "5000")
    agent_page.fill("textarea[name=reason]", "Lost order ORDER-9")
    agent_page.get_by_role("button", name="Confirm").click()
    agent_page.get_by_text("The balance goes from 1200 to 6200.").wait_for()
    agent_page.get_by_text("it will wait for another person's approval").wait_for()
    screenshot("adjust-points-confirm", on=agent_page)
    agent_page.get_by_role("button", name="Confirm").click()
    agent_page.get_by_text("waits for another person's approval").first.wait_for()
    assert PointsAccount.objects.get(member=member).balance == 1200
    adjustment = PointsAdjustment.objects.get(member=member)
    assert adjustment.state == AdjustmentState.PENDING

    manager_page = open_page()
    login_as(OPERATIONS_MANAGER, on=manager_page)
    manager_page.goto("/admin/members/pointsadjustment/?state__exact=pending")
    manager_page.get_by_text("Lost order ORDER-9").first.wait_for()
    manager_page.goto(f"/admin/members/pointsadjustment/{adjustment.pk}/change/")
    manager_page.get_by_role("link", name="Approve").first.click()
    manager_page.get_by_text("The balance would go from 1200 to 6200.").wait_for()
    manager_page.get_by_role("button", name="Confirm").click()
    manager_page.get_by_text("Approved: +5000 points; the balance is now 6200.").wait_for()
    assert PointsAccount.objects.get(member=member).balance == 6200
