import json

import pytest
from django.urls import reverse

from apps.campaigns import services
from apps.campaigns.models import Campaign, CampaignStatus
from apps.core.roles import ANALYST, CAMPAIGN_MANAGER, CUSTOMER_SERVICE
from tests.campaigns.factories import CampaignFactory, SegmentFactory
from tests.members.factories import MemberFactory
from tests.messaging.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", [CAMPAIGN_MANAGER, ANALYST])
def test_pages_load_per_role(client, staff, role):
    campaign = CampaignFactory()
    MemberFactory()
    services.campaign_run_execute(run_id=services.campaign_launch(campaign=campaign).pk)
    client.force_login(staff(role))
    for url in [
        "/admin/campaigns/segment/",
        f"/admin/campaigns/segment/{campaign.segment.pk}/change/",
        "/admin/campaigns/campaign/",
        f"/admin/campaigns/campaign/{campaign.pk}/change/",
        "/admin/campaigns/campaignrun/",
        "/admin/campaigns/referral/",
    ]:
        assert client.get(url).status_code == 200, url


def test_customer_service_cannot_see_campaigns(client, staff):
    client.force_login(staff(CUSTOMER_SERVICE))
    assert client.get("/admin/campaigns/campaign/").status_code == 403


def test_segment_preview_endpoint(client, staff):
    MemberFactory.create_batch(2, city="苏州")
    client.force_login(staff(CAMPAIGN_MANAGER))
    url = reverse("admin:campaigns_segment_preview")
    response = client.post(url, json.dumps({"field": "city", "value": ["苏州"]}), content_type="application/json")
    assert response.status_code == 200 and response.json()["count"] == 2
    bad = client.post(url, json.dumps({"field": "nope"}), content_type="application/json")
    assert bad.status_code == 400 and "nope" in bad.json()["error"]
    not_text = client.post(url, '{"field": "city", "value": ["\\ud800"]}', content_type="application/json")
    assert not_text.status_code == 400 and "value.0" in not_text.json()["error"]
    assert client.get(url).status_code == 405


def test_analyst_cannot_preview_or_launch(client, staff):
    campaign = CampaignFactory()
    client.force_login(staff(ANALYST))
    response = client.post("/admin/campaigns/campaign/", {"action": "launch", "_selected_action": [campaign.pk]})
    assert response.status_code in (200, 302, 403)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT


def test_admin_actions_call_the_services(client, staff):
    segment = SegmentFactory()
    campaign = CampaignFactory(segment=segment)
    client.force_login(staff(CAMPAIGN_MANAGER))
    client.post("/admin/campaigns/campaign/", {"action": "cancel", "_selected_action": [campaign.pk]})
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.CANCELLED
    response = client.post("/admin/campaigns/campaign/", {"action": "pause", "_selected_action": [campaign.pk]}, follow=True)
    assert "cannot be paused" in response.content.decode()
    client.post("/admin/campaigns/segment/", {"action": "freeze", "_selected_action": [segment.pk]})
    segment.refresh_from_db()
    assert segment.is_frozen


def transition_url(campaign: Campaign, name: str) -> str:
    return reverse("admin:campaigns_campaign_transition", args=[campaign.pk, name])


def test_campaign_page_offers_only_the_transitions_its_status_allows(client, staff):
    campaign = CampaignFactory()
    client.force_login(staff(CAMPAIGN_MANAGER))
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    for name in ("dry_run", "launch", "schedule", "cancel"):
        assert transition_url(campaign, name) in page, name
    for name in ("pause", "resume"):
        assert transition_url(campaign, name) not in page, name
    analyst_client = client.__class__()
    analyst_client.force_login(staff(ANALYST))
    assert transition_url(campaign, "launch") not in analyst_client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert analyst_client.post(transition_url(campaign, "launch"), {"confirmed": "True"}).status_code == 403


def test_launch_and_cancel_ask_first_and_act_only_on_a_confirmed_post(client, staff):
    MemberFactory.create_batch(3)
    campaign = CampaignFactory()
    client.force_login(staff(CAMPAIGN_MANAGER))
    assert client.get(transition_url(campaign, "launch")).status_code == 405
    asked = client.post(transition_url(campaign, "launch"))
    assert asked.status_code == 200
    assert f"Launch {campaign.name} now? It acts on 3 members" in asked.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT
    client.post(transition_url(campaign, "launch"), {"confirmed": "True"})
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING
    client.post(transition_url(campaign, "pause"))
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.PAUSED
    client.post(transition_url(campaign, "cancel"), {"confirmed": "True"})
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.CANCELLED
    refused = client.post(transition_url(campaign, "pause"), follow=True)
    assert "cannot be paused" in refused.content.decode()


def test_dry_run_from_the_campaign_page_counts_without_acting(client, staff):
    MemberFactory.create_batch(2)
    campaign = CampaignFactory()
    client.force_login(staff(CAMPAIGN_MANAGER))
    response = client.post(transition_url(campaign, "dry_run"), follow=True)
    assert "Dry run started" in response.content.decode()
    run = campaign.runs.get()
    assert run.dry_run and run.targeted == 2
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT


@pytest.mark.parametrize("status", [CampaignStatus.COMPLETED, CampaignStatus.CANCELLED])
def test_a_finished_campaign_page_is_read_only_and_says_so(client, staff, status):
    campaign = CampaignFactory(status=status)
    client.force_login(staff(CAMPAIGN_MANAGER))
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    text = page.content.decode()
    assert "it is kept as a record and can no longer be edited or launched" in text
    assert 'name="_save"' not in text and 'name="name"' not in text
    assert "/transition/" not in text


def test_message_template_is_chosen_from_active_templates_with_a_preview(client, staff):
    MessageTemplateFactory(code="welcome", channel="sms", body_en="Hi {{ name }}, you are {{ tier }}.")
    MessageTemplateFactory(code="retired", channel="sms", is_active=False)
    campaign = CampaignFactory(points_amount=None, message_channel="sms", message_template_code="welcome")
    client.force_login(staff(CAMPAIGN_MANAGER))
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    field = page.context_data["adminform"].form.fields["message_template_code"]
    codes = [code for _group, options in field.choices[1:] for code, _label in options]
    assert "welcome" in codes and "retired" not in codes
    assert "Hi Li Na, you are Gold." in page.content.decode()
    typed = client.post(
        f"/admin/campaigns/campaign/{campaign.pk}/change/",
        {
            "name": campaign.name,
            "segment": campaign.segment.pk,
            "message_channel": "sms",
            "message_template_code": "no-such-template",
            "message_purpose": "marketing",
            "schedule_kind": "manual",
            "cost_per_member": "0",
            "holdout_percent": "0",
        },
    )
    assert "message_template_code" in typed.context_data["adminform"].form.errors
