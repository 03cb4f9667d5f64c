import json

import pytest
from django.urls import reverse

from apps.campaigns import services
from apps.campaigns.models import Campaign, CampaignStatus
from apps.core.roles import ANALYST, CAMPAIGN_MANAGER, CUSTOMER_SERVICE
from tests.campaigns.factories import CampaignFactory, SegmentFactory
from tests.members.factories import MemberFactory

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
