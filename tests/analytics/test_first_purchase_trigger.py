from datetime import timedelta

import pytest
from django.utils import timezone

from apps.campaigns import services
from apps.campaigns.models import CampaignRun, Trigger
from apps.campaigns.selectors import TRIGGER_WINDOWS
from apps.core.errors import ApplicationError
from apps.members.models import PointsEntry
from tests.analytics.factories import purchase
from tests.campaigns.factories import CampaignFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def process_and_run(now):
    run_ids = services.campaign_triggers_process(now=now)
    for run_id in run_ids:
        services.campaign_run_execute(run_id=run_id)
    return [CampaignRun.objects.get(pk=pk) for pk in run_ids]


def rewarded(member) -> int:
    return PointsEntry.objects.filter(account__member=member, source_ref__startswith="campaign-run:").count()


def test_first_purchase_rewards_each_buyer_once_including_late_reports():
    now = timezone.now()
    regular, newcomer, late_reporter = MemberFactory.create_batch(3)
    purchase(regular, now - timedelta(days=30), "99.00", recorded_at=now - timedelta(days=30))
    campaign = services.campaign_schedule(campaign=CampaignFactory(trigger=Trigger.FIRST_PURCHASE, applies_frequency_cap=False))

    purchase(regular, now + timedelta(minutes=1), "50.00", recorded_at=now + timedelta(minutes=1))
    purchase(newcomer, now + timedelta(minutes=2), "120.00", recorded_at=now + timedelta(minutes=2))
    # Bought last week, reported only now: still the member's first purchase, seen in this window.
    purchase(late_reporter, now - timedelta(days=7), "80.00", recorded_at=now + timedelta(minutes=3))
    [run] = process_and_run(now + timedelta(minutes=5))

    assert run.acted == 2
    assert (rewarded(regular), rewarded(newcomer), rewarded(late_reporter)) == (0, 1, 1)

    purchase(newcomer, now + timedelta(minutes=6), "30.00", recorded_at=now + timedelta(minutes=6))
    assert [r.acted for r in process_and_run(now + timedelta(minutes=10))] == [0]
    campaign.refresh_from_db()
    assert campaign.runs.count() == 2


def test_a_trigger_nobody_reports_cannot_be_scheduled(monkeypatch):
    monkeypatch.delitem(TRIGGER_WINDOWS, Trigger.FIRST_PURCHASE)
    with pytest.raises(ApplicationError) as refused:
        services.campaign_schedule(campaign=CampaignFactory(trigger=Trigger.FIRST_PURCHASE))
    assert refused.value.code == "trigger_unavailable"
