"""A save the service refuses is a form error: nothing saved, what was typed kept, no success message."""

from typing import Any

import pytest
from django.contrib.messages import get_messages

from apps.campaigns.models import Campaign, CampaignStatus, Segment
from apps.core.roles import CAMPAIGN_MANAGER, OPERATIONS_MANAGER
from apps.members.models import ConsentChannel, Tier
from apps.messaging.models import MessageTemplate
from tests.campaigns.factories import CampaignFactory, SegmentFactory
from tests.messaging.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db


def campaign_data(segment: Segment, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "Spring push",
        "description": "",
        "segment": segment.pk,
        "points_amount": "",
        "message_channel": ConsentChannel.SMS,
        "message_template_code": "welcome",
        "message_purpose": "marketing",
        "schedule_kind": "manual",
        "cost_per_member": "0",
        "holdout_percent": "0",
        "applies_frequency_cap": "on",
        **overrides,
    }


def refused(response: Any) -> tuple[Any, list[str]]:
    assert response.status_code == 200, response.status_code
    return response.context_data["adminform"].form, [str(m) for m in get_messages(response.wsgi_request)]


def test_campaign_with_a_template_the_service_refuses_keeps_the_form(client, staff):
    MessageTemplateFactory(code="welcome", channel=ConsentChannel.PUSH)
    segment = SegmentFactory()
    client.force_login(staff(CAMPAIGN_MANAGER))
    form, messages = refused(client.post("/admin/campaigns/campaign/add/", campaign_data(segment)))
    assert form.errors["message_template_code"] == ["No active template with this code for this channel."]
    assert form.data["name"] == "Spring push"
    assert messages == []
    assert not Campaign.objects.filter(name="Spring push").exists()


def test_editing_a_completed_campaign_is_refused_on_the_form(client, staff):
    campaign = CampaignFactory(status=CampaignStatus.COMPLETED)
    client.force_login(staff(CAMPAIGN_MANAGER))
    data = campaign_data(campaign.segment, name="Renamed", message_template_code="", message_channel="", points_amount="10")
    form, messages = refused(client.post(f"/admin/campaigns/campaign/{campaign.pk}/change/", data))
    assert "cannot be edited" in " ".join(form.non_field_errors())
    assert messages == []
    assert Campaign.objects.get(pk=campaign.pk).name == campaign.name


def test_segment_with_rules_the_service_refuses_keeps_the_form(client, staff):
    client.force_login(staff(CAMPAIGN_MANAGER))
    data = {"name": "Bad rules", "description": "", "rules": '{"field": "shoe_size", "value": ["42"]}'}
    form, messages = refused(client.post("/admin/campaigns/segment/add/", data))
    assert "shoe_size" in " ".join(form.non_field_errors() + form.errors.get("rules", []))
    assert messages == []
    assert not Segment.objects.filter(name="Bad rules").exists()


def test_tier_the_service_refuses_is_an_error_on_its_field(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    silver = Tier.objects.get(code="silver")
    data = {"code": "platinum", "name_en": "Platinum", "name_zh_hans": "铂金", "rank": 99, "threshold": silver.threshold - 1}
    data["points_multiplier"] = "1.00"
    form, messages = refused(client.post("/admin/members/tier/add/", data))
    assert form.errors["threshold"] == ["Thresholds must rise with rank."]
    assert messages == []
    assert not Tier.objects.filter(code="platinum").exists()


def test_message_template_that_does_not_compile_is_an_error_on_its_language_field(client, staff):
    client.force_login(staff(CAMPAIGN_MANAGER))
    data = {"code": "broken", "channel": ConsentChannel.SMS, "subject_en": "", "body_en": "Hi {% if name %}", "body_zh_hans": "您好"}
    data["is_active"] = "on"
    form, messages = refused(client.post("/admin/messaging/messagetemplate/add/", data))
    assert "does not compile" in form.errors["body_en"][0]
    assert messages == []
    assert not MessageTemplate.objects.filter(code="broken").exists()
