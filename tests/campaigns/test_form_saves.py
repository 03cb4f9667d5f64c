"""A back-office save of a segment or campaign never writes what its services moved while the form was open."""

import pytest

from apps.campaigns import services
from apps.campaigns.models import Campaign, CampaignStatus, ScheduleKind, Segment
from tests.campaigns.factories import CampaignFactory, SegmentFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_segment_form_opened_before_a_freeze_keeps_the_snapshot():
    MemberFactory.create_batch(3)
    segment = SegmentFactory()
    form_instance = Segment.objects.get(pk=segment.pk)
    services.segment_freeze(segment=segment)

    form_instance.description = "For the spring campaign"
    services.segment_save(segment=form_instance)

    stored = Segment.objects.get(pk=segment.pk)
    assert stored.is_frozen and stored.frozen_count == 3 and stored.description == "For the spring campaign"


def test_campaign_form_opened_before_scheduling_keeps_the_status_and_beat_entry():
    campaign = CampaignFactory(schedule_kind=ScheduleKind.CRON, cron="0 9 * * 1")
    services.campaign_save(campaign=campaign)
    form_instance = Campaign.objects.get(pk=campaign.pk)
    services.campaign_schedule(campaign=campaign)

    form_instance.description = "Monday points"
    services.campaign_save(campaign=form_instance)

    stored = Campaign.objects.select_related("periodic_task").get(pk=campaign.pk)
    assert stored.status == CampaignStatus.SCHEDULED and stored.description == "Monday points"
    assert stored.periodic_task.enabled
