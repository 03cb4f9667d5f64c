import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test import override_settings

from apps.benefits import services as benefit_services
from apps.benefits.models import Benefit, Grant, GrantState
from apps.campaigns import services
from apps.campaigns.models import Referral, ReferralState
from apps.members.models import PointsAccount, PointsEntry
from apps.members.services import points_earn, points_earn_bulk
from tests.benefits.factories import BenefitFactory
from tests.campaigns.factories import CampaignFactory, SegmentFactory
from tests.members.factories import MemberFactory
from tests.members.test_concurrency import assert_books_balance

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

ALL_MEMBERS = {"op": "and", "conditions": [{"field": "status", "value": ["active"]}]}


def in_threads(count, work):
    barrier = threading.Barrier(count)
    errors = []

    def target(index):
        try:
            barrier.wait()
            work(index)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_workers_racing_on_one_run_act_once_per_member():
    MemberFactory.create_batch(30)
    campaign = CampaignFactory(points_amount=5)
    run = services.campaign_launch(campaign=campaign)
    assert in_threads(4, lambda _i: services.campaign_run_execute(run_id=run.pk, chunk_size=4)) == []
    run.refresh_from_db()
    entries = PointsEntry.objects.filter(source_ref=f"campaign-run:{run.pk}")
    assert (run.acted, run.processed, entries.count(), entries.values("account").distinct().count()) == (30, 30, 30, 30)


@override_settings(
    USEROPS_REFERRALS={
        "REFERRER_POINTS": 100,
        "REFEREE_POINTS": 10,
        "QUALIFYING_ACTIONS": ["first_purchase"],
        "ATTACH_WITHIN_HOURS": 24,
        "MONTHLY_CAP_PER_REFERRER": 2,
    }
)
def test_referral_monthly_cap_holds_under_concurrent_qualification():
    referrer = MemberFactory()
    code = services.referral_code_for(member=referrer).code
    referees = MemberFactory.create_batch(5)
    for referee in referees:
        services.referral_attach(referee=referee, code=code)
    assert in_threads(5, lambda i: services.referral_qualify(referee=referees[i], action="first_purchase")) == []
    assert Referral.objects.filter(state=ReferralState.REWARDED).count() == 2
    assert Referral.objects.filter(state=ReferralState.REJECTED, reject_reason="cap_reached").count() == 3


def test_bulk_points_beside_single_earns_keeps_every_balance_true():
    members = MemberFactory.create_batch(20)
    ids = [m.pk for m in members]

    def work(index):
        if index % 2:
            points_earn_bulk(member_ids=ids, amount=3, reason="bulk", source_ref=f"bulk-{index}")
        else:
            for member in members[index::4]:
                points_earn(member=member, amount=1, reason="single")

    assert in_threads(6, work) == []
    for account in PointsAccount.objects.filter(member__in=members):
        assert account.balance == PointsEntry.objects.filter(account=account).aggregate(s=Sum("amount"))["s"]
    assert PointsEntry.objects.filter(reason="bulk").count() == 60


def test_campaign_run_beside_single_earns_on_the_same_members():
    members = MemberFactory.create_batch(30)
    run = services.campaign_launch(campaign=CampaignFactory(points_amount=7, applies_frequency_cap=False))

    def work(index):
        if index == 0:
            services.campaign_run_execute(run_id=run.pk, chunk_size=5)
        else:
            for member in members[index - 1 :: 3]:
                points_earn(member=member, amount=1, reason="single")

    assert in_threads(4, work) == []
    run.refresh_from_db()
    assert run.acted == 30
    for account in PointsAccount.objects.filter(member__in=members):
        assert account.balance == PointsEntry.objects.filter(account=account).aggregate(s=Sum("amount"))["s"] == 8


def test_campaign_run_holding_out_members_beside_single_earns_on_the_same_members():
    """Skipped members get action rows too: the chunk locks all its accounts before inserting any."""
    members = MemberFactory.create_batch(30)
    run = services.campaign_launch(campaign=CampaignFactory(points_amount=7, holdout_percent=40, applies_frequency_cap=False))

    def work(index):
        if index == 0:
            services.campaign_run_execute(run_id=run.pk, chunk_size=5)
        else:
            for member in members[index - 1 :: 3]:
                points_earn(member=member, amount=1, reason="single")

    assert in_threads(4, work) == []
    run.refresh_from_db()
    assert run.held_out > 0 and run.acted + run.held_out == 30
    for member in members:
        assert_books_balance(member)


def test_two_runs_holding_out_different_members_never_deadlock():
    """One run acts on members the other holds out, over the same chunks at the same time."""
    members = MemberFactory.create_batch(40)
    segment = SegmentFactory(rules=ALL_MEMBERS)
    runs = [
        services.campaign_launch(
            campaign=CampaignFactory(segment=segment, points_amount=3 + index, holdout_percent=50, applies_frequency_cap=False)
        )
        for index in range(2)
    ]
    assert in_threads(2, lambda index: services.campaign_run_execute(run_id=runs[index].pk, chunk_size=6)) == []
    for run in runs:
        run.refresh_from_db()
        assert run.acted + run.held_out == 40
        assert PointsEntry.objects.filter(source_ref=f"campaign-run:{run.pk}").count() == run.acted
    for member in members:
        assert_books_balance(member)


def test_campaign_run_beside_mall_exchanges_and_revocations_never_deadlocks():
    """The run locks benefit then accounts, as the mall and revocation do: racing them on the same members ends, exactly."""
    members = MemberFactory.create_batch(40)
    for member in members:
        points_earn(member=member, amount=100, reason="Purchase")
    benefit = BenefitFactory(points_price=10, unit_cost=Decimal("2.00"))
    bought = [benefit_services.mall_exchange(member=member, benefit=benefit) for member in members]
    run = services.campaign_launch(
        campaign=CampaignFactory(benefit=benefit, points_amount=5, applies_frequency_cap=False, segment=SegmentFactory(rules=ALL_MEMBERS))
    )

    def work(index):
        if index == 0:
            services.campaign_run_execute(run_id=run.pk, chunk_size=4)
            return
        for position in range(index - 1, len(members), 5):
            if index % 2:
                benefit_services.mall_exchange(member=members[position], benefit=benefit)
            else:
                benefit_services.grant_revoke(grant=bought[position], reason="Returned at the desk")

    assert in_threads(6, work) == []
    run.refresh_from_db()
    grants = Grant.objects.filter(benefit=benefit)
    assert run.benefits_granted == 40 == grants.filter(source_ref=f"campaign-run:{run.pk}").count()
    revoked = grants.filter(state=GrantState.REVOKED).count()
    assert revoked == len(range(1, 40, 5)) + len(range(3, 40, 5))
    held = grants.exclude(state=GrantState.REVOKED)
    stored = Benefit.objects.get(pk=benefit.pk)
    assert stored.issued_count == held.count() == 40 + 40 + 3 * 8 - revoked
    assert stored.cost_committed == sum(held.values_list("cost", flat=True))
    for member in members:
        assert_books_balance(member)
