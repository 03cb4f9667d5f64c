from datetime import date, timedelta

import pytest
from django.utils import timezone

from apps.campaigns import services
from apps.campaigns.models import CampaignRun, CampaignStatus, RunStatus, ScheduleKind, Trigger
from apps.core.errors import ApplicationError
from apps.members.models import PointsEntry
from apps.members.services import growth_add
from tests.campaigns.factories import CampaignFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def process_and_run(now=None):
    run_ids = services.campaign_triggers_process(now=now)
    for run_id in run_ids:
        services.campaign_run_execute(run_id=run_id)
    return [CampaignRun.objects.get(pk=pk) for pk in run_ids]


def scheduled(trigger):
    campaign = CampaignFactory(trigger=trigger, applies_frequency_cap=False)
    return services.campaign_schedule(campaign=campaign)


def test_enrolment_trigger_acts_once_on_each_new_member():
    MemberFactory()  # enrolled before the campaign listened
    campaign = scheduled(Trigger.ENROLMENT)
    newcomer = MemberFactory()
    [run] = process_and_run()
    assert (run.status, run.acted) == (RunStatus.COMPLETED, 1)
    assert PointsEntry.objects.filter(account__member=newcomer).count() == 1
    assert [r.acted for r in process_and_run()] == [0]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED


def test_tier_promotion_trigger():
    scheduled(Trigger.TIER_PROMOTION)
    member, stays = MemberFactory(), MemberFactory()
    growth_add(member=member, amount=1_000_000, reason="purchase")
    [run] = process_and_run(now=timezone.now() + timedelta(seconds=1))
    assert run.acted == 1 and not PointsEntry.objects.filter(account__member=stays).exists()


def test_birthday_trigger_runs_once_a_day():
    today = timezone.localdate()
    birthday_kid = MemberFactory(birthday=date(1992, today.month, today.day))  # a leap year: 29 February exists
    MemberFactory(birthday=date(1990, today.month % 12 + 1, 1))
    scheduled(Trigger.BIRTHDAY)
    runs = process_and_run()
    assert [r.acted for r in runs] == [1]
    assert process_and_run() == []
    assert PointsEntry.objects.filter(account__member=birthday_kid).count() == 1


def test_paused_trigger_campaign_is_not_processed():
    campaign = scheduled(Trigger.ENROLMENT)
    services.campaign_pause(campaign=campaign)
    MemberFactory()
    assert services.campaign_triggers_process() == []


def test_trigger_campaigns_are_not_launched_by_hand_nor_scheduled_by_time():
    campaign = scheduled(Trigger.ENROLMENT)
    with pytest.raises(ApplicationError) as exc:
        services.campaign_launch(campaign=campaign)
    assert exc.value.code == "trigger_campaign"
    services.campaign_pause(campaign=campaign)
    assert services.campaign_resume(campaign=campaign).status == CampaignStatus.SCHEDULED
    both = CampaignFactory.build(
        segment=campaign.segment, trigger=Trigger.BIRTHDAY, schedule_kind=ScheduleKind.INTERVAL, interval_minutes=5
    )
    with pytest.raises(ApplicationError) as exc:
        services.campaign_save(campaign=both)
    assert exc.value.code == "trigger_with_schedule"
