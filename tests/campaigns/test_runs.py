from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.test import override_settings
from django_celery_beat.models import PeriodicTask

from apps.benefits.models import BenefitStatus, Grant, GrantSource
from apps.campaigns import services
from apps.campaigns.models import ActionOutcome, CampaignAction, CampaignRun, CampaignStatus, RunStatus, ScheduleKind
from apps.campaigns.services.runs import _run_chunk
from apps.core.errors import ApplicationError
from apps.members.models import ConsentChannel, MemberStatus, PointsAccount, PointsEntry
from apps.members.services import points_earn_bulk
from apps.messaging.models import Message
from tests.benefits.factories import BenefitFactory
from tests.campaigns.factories import CampaignFactory
from tests.members.factories import ConsentFactory, MemberFactory
from tests.messaging.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db


def launch_and_run(campaign, *, dry_run=False, chunk_size=2):
    run = services.campaign_launch(campaign=campaign, dry_run=dry_run)
    return services.campaign_run_execute(run_id=run.pk, chunk_size=chunk_size)


def balances_match_ledger():
    for account in PointsAccount.objects.all():
        assert account.balance == (PointsEntry.objects.filter(account=account).aggregate(s=Sum("amount"))["s"] or 0)
    return True


def test_run_awards_points_once_and_skips_frozen_members():
    active = MemberFactory.create_batch(5)
    frozen = MemberFactory(status=MemberStatus.FROZEN)
    campaign = CampaignFactory(points_amount=200, points_valid_days=30)
    run = launch_and_run(campaign)
    assert (run.status, run.targeted, run.processed, run.acted, run.skipped_member_frozen) == (RunStatus.COMPLETED, 6, 6, 5, 1)
    assert run.points_awarded == 1000 and run.progress == 100
    assert set(PointsAccount.objects.filter(member__in=active).values_list("balance", flat=True)) == {200}
    frozen.points_account.refresh_from_db()
    assert frozen.points_account.balance == 0
    assert CampaignAction.objects.filter(run=run).count() == 6
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    assert balances_match_ledger()
    entry = PointsEntry.objects.filter(source_ref=f"campaign-run:{run.pk}").first()
    assert entry.expires_at.date() == (entry.created_at + timedelta(days=30)).date()


def test_retrying_a_run_after_a_crash_never_acts_twice():
    MemberFactory.create_batch(5)
    campaign = CampaignFactory()
    run = services.campaign_launch(campaign=campaign)
    assert _run_chunk(run.pk, 2) is False  # the first chunk commits, then the "worker dies"
    services.campaign_run_execute(run_id=run.pk, chunk_size=2)
    services.campaign_run_execute(run_id=run.pk, chunk_size=2)
    run.refresh_from_db()
    assert run.acted == 5
    assert PointsEntry.objects.filter(source_ref=f"campaign-run:{run.pk}").count() == 5
    assert balances_match_ledger()


def test_marketing_message_needs_consent():
    MessageTemplateFactory(code="promo")
    consenting = MemberFactory()
    ConsentFactory(member=consenting, channel=ConsentChannel.SMS, granted=True)
    MemberFactory.create_batch(2)
    campaign = CampaignFactory(points_amount=None, message_channel="sms", message_template_code="promo", message_purpose="marketing")
    run = launch_and_run(campaign)
    assert (run.acted, run.skipped_no_consent, run.messages_queued) == (1, 2, 1)
    assert list(Message.objects.values_list("member_id", flat=True)) == [consenting.pk]


def test_points_go_to_all_and_the_message_only_to_consenting_members():
    MessageTemplateFactory(code="promo")
    consenting = MemberFactory()
    ConsentFactory(member=consenting, channel=ConsentChannel.SMS, granted=True)
    MemberFactory()
    campaign = CampaignFactory(message_channel="sms", message_template_code="promo", message_purpose="marketing")
    run = launch_and_run(campaign)
    assert (run.acted, run.skipped_no_consent, run.messages_queued) == (2, 0, 1)


@override_settings(USEROPS_CAMPAIGNS={"CHUNK_SIZE": 2, "FREQUENCY_CAP": 1, "FREQUENCY_CAP_DAYS": 30, "STALLED_AFTER_MINUTES": 10})
def test_frequency_cap_across_campaigns():
    MemberFactory.create_batch(3)
    first = launch_and_run(CampaignFactory())
    second = launch_and_run(CampaignFactory())
    exempt = launch_and_run(CampaignFactory(applies_frequency_cap=False))
    assert first.acted == 3
    assert (second.acted, second.skipped_cap_reached) == (0, 3)
    assert exempt.acted == 3


def test_budget_exhaustion_by_members_points_and_cost():
    MemberFactory.create_batch(5)
    by_members = launch_and_run(CampaignFactory(max_members=3))
    assert (by_members.acted, by_members.skipped_budget_exhausted) == (3, 2)
    assert CampaignAction.objects.filter(run=by_members, outcome=ActionOutcome.BUDGET_EXHAUSTED).count() == 2
    by_points = launch_and_run(CampaignFactory(points_amount=100, max_points=250, applies_frequency_cap=False))
    assert (by_points.acted, by_points.points_awarded) == (2, 200)
    # ¥1.50 a member plus 100 points at ¥0.01: ¥2.50 each, so ¥6.00 reaches two members
    by_cost = launch_and_run(CampaignFactory(cost_per_member=Decimal("1.50"), max_cost=Decimal("6.00"), applies_frequency_cap=False))
    assert (by_cost.acted, by_cost.cost) == (2, Decimal("5.00"))


def test_budget_holds_across_runs_of_a_recurring_campaign():
    MemberFactory.create_batch(3)
    campaign = CampaignFactory(max_members=4, schedule_kind=ScheduleKind.INTERVAL, interval_minutes=60, applies_frequency_cap=False)
    services.campaign_schedule(campaign=campaign)
    assert launch_and_run(campaign).acted == 3
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    second = launch_and_run(campaign)
    assert (second.acted, second.skipped_budget_exhausted) == (1, 2)


def test_dry_run_counts_without_acting():
    MemberFactory.create_batch(4)
    MemberFactory(status=MemberStatus.FROZEN)
    campaign = CampaignFactory(max_members=3)
    run = launch_and_run(campaign, dry_run=True)
    assert (run.dry_run, run.acted, run.skipped_budget_exhausted, run.skipped_member_frozen) == (True, 3, 1, 1)
    assert not PointsEntry.objects.exists() and not CampaignAction.objects.exists()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_holdout_is_stable_and_counted():
    MemberFactory.create_batch(40)
    campaign = CampaignFactory(holdout_percent=50)
    run = launch_and_run(campaign, chunk_size=7)
    assert run.held_out > 0 and run.acted > 0 and run.acted + run.held_out == 40
    again = launch_and_run(CampaignFactory(holdout_percent=50, applies_frequency_cap=False, segment=campaign.segment), chunk_size=7)
    assert again.held_out > 0


def test_schedule_owns_its_periodic_task():
    campaign = CampaignFactory(schedule_kind=ScheduleKind.CRON, cron="0 9 * * 1")
    services.campaign_save(campaign=campaign)
    task = PeriodicTask.objects.get(pk=campaign.periodic_task_id)
    assert task.task == "campaigns.launch" and not task.enabled and task.crontab.hour == "9"
    services.campaign_schedule(campaign=campaign)
    task.refresh_from_db()
    assert task.enabled
    services.campaign_pause(campaign=campaign)
    task.refresh_from_db()
    assert not task.enabled
    campaign.refresh_from_db()
    services.campaign_resume(campaign=campaign)
    task.refresh_from_db()
    assert task.enabled
    services.campaign_cancel(campaign=campaign)
    task.refresh_from_db()
    assert not task.enabled


def test_switching_to_manual_removes_the_beat_entry():
    campaign = services.campaign_save(
        campaign=CampaignFactory.build(schedule_kind=ScheduleKind.INTERVAL, interval_minutes=5, segment=CampaignFactory().segment)
    )
    assert PeriodicTask.objects.filter(name=f"campaign:{campaign.pk}").exists()
    campaign.schedule_kind = ScheduleKind.MANUAL
    services.campaign_save(campaign=campaign)
    assert not PeriodicTask.objects.filter(name=f"campaign:{campaign.pk}").exists()


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"points_amount": None}, "no_action"),
        ({"message_template_code": "missing", "message_channel": "sms"}, "template_not_found"),
        ({"message_template_code": "promo"}, "message_channel_required"),
        ({"schedule_kind": ScheduleKind.ONCE}, "run_at_required"),
        ({"schedule_kind": ScheduleKind.CRON, "cron": "every day"}, "invalid_cron"),
    ],
)
def test_invalid_campaigns_are_refused(fields, code):
    campaign = CampaignFactory.build(segment=CampaignFactory().segment, **fields)
    with pytest.raises(ApplicationError) as exc:
        services.campaign_save(campaign=campaign)
    assert exc.value.code == code


def test_transitions_check_the_current_state():
    campaign = CampaignFactory()
    with pytest.raises(ApplicationError) as exc:
        services.campaign_pause(campaign=campaign)
    assert exc.value.code == "invalid_status"
    with pytest.raises(ApplicationError) as exc:
        services.campaign_schedule(campaign=campaign)
    assert exc.value.code == "no_schedule"
    services.campaign_cancel(campaign=campaign)
    with pytest.raises(ApplicationError):
        services.campaign_launch(campaign=campaign)


def test_pause_stops_a_run_between_chunks_and_resume_continues_it():
    MemberFactory.create_batch(5)
    campaign = CampaignFactory()
    run = services.campaign_launch(campaign=campaign)
    _run_chunk(run.pk, 2)
    services.campaign_pause(campaign=campaign)
    services.campaign_run_execute(run_id=run.pk, chunk_size=2)
    run.refresh_from_db()
    assert (run.status, run.acted) == (RunStatus.RUNNING, 2)
    with pytest.raises(ApplicationError) as exc:
        services.campaign_launch(campaign=campaign)
    assert exc.value.code == "invalid_status"
    services.campaign_resume(campaign=campaign)
    run = services.campaign_run_execute(run_id=run.pk, chunk_size=2)
    assert (run.status, run.acted) == (RunStatus.COMPLETED, 5)


def test_stalled_runs_are_queued_again(django_capture_on_commit_callbacks, published_tasks):
    MemberFactory()
    campaign = CampaignFactory()
    with django_capture_on_commit_callbacks(execute=True):
        run = services.campaign_launch(campaign=campaign)
    assert published_tasks == [("campaigns.execute_run", [run.pk])]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.campaign_runs_resume_stalled(stalled_for=timedelta(minutes=10)) == []
        assert services.campaign_runs_resume_stalled(stalled_for=timedelta(0)) == [run.pk]
    assert published_tasks == [("campaigns.execute_run", [run.pk])] * 2
    assert CampaignRun.objects.get(pk=run.pk).status == RunStatus.PENDING


def test_points_earn_bulk_keeps_the_ledger_true_and_skips_inactive():
    active = MemberFactory.create_batch(3)
    closed = MemberFactory(status=MemberStatus.CLOSED)
    credited = points_earn_bulk(member_ids=[m.pk for m in [*active, closed]], amount=50, reason="Bulk", source_ref="x")
    assert credited == 3
    credited = points_earn_bulk(member_ids=[active[0].pk], amount=25, reason="Bulk", source_ref="y")
    assert PointsAccount.objects.get(member=active[0]).balance == 75
    assert balances_match_ledger()
    with pytest.raises(ApplicationError):
        points_earn_bulk(member_ids=[active[0].pk], amount=0, reason="Bulk")


def test_benefit_action_grants_once_within_the_benefits_own_stock():
    benefit = BenefitFactory(total_stock=4, unit_cost=Decimal("30.00"))
    MemberFactory.create_batch(5)
    campaign = CampaignFactory(points_amount=None, benefit=benefit)
    run = services.campaign_launch(campaign=campaign)
    _run_chunk(run.pk, 2)
    run = services.campaign_run_execute(run_id=run.pk, chunk_size=2)
    grants = Grant.objects.filter(source=GrantSource.CAMPAIGN, source_ref=f"campaign-run:{run.pk}")
    assert (run.acted, run.benefits_granted, run.benefits_not_granted) == (5, 4, 1)
    assert grants.count() == 4 and grants.values("member").distinct().count() == 4
    assert run.cost == Decimal("150.00")


def test_benefit_unit_cost_counts_against_the_campaign_budget():
    MemberFactory.create_batch(5)
    campaign = CampaignFactory(points_amount=None, benefit=BenefitFactory(unit_cost=Decimal("30.00")), max_cost=Decimal("100.00"))
    run = launch_and_run(campaign)
    assert (run.acted, run.benefits_granted, run.skipped_budget_exhausted, run.cost) == (3, 3, 2, Decimal("90.00"))


def test_inactive_benefit_is_refused_at_save():
    campaign = CampaignFactory.build(segment=CampaignFactory().segment, benefit=BenefitFactory(status=BenefitStatus.PAUSED))
    with pytest.raises(ApplicationError) as exc:
        services.campaign_save(campaign=campaign)
    assert exc.value.code == "benefit_not_active"


def test_points_awarded_carry_their_cost_at_the_programmes_point_value(settings):
    settings.USEROPS = {**settings.USEROPS, "POINT_VALUE_YUAN": "0.02"}
    MemberFactory.create_batch(4)
    run = launch_and_run(CampaignFactory(points_amount=250, max_cost=Decimal("15.00")))
    # 250 points × ¥0.02 = ¥5.00 a member: the ¥15.00 budget reaches three of the four
    assert (run.acted, run.points_awarded, run.skipped_budget_exhausted, run.cost) == (3, 750, 1, Decimal("15.00"))
