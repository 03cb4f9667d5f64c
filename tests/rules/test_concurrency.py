"""Real threads against PostgreSQL: two batches racing for one member's capped rule pay exactly the cap; an ingest
beside a campaign chunk on the same member and benefit never deadlocks."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.benefits.models import Benefit, Grant, GrantSource
from apps.benefits.services import grants_pending_issue
from apps.campaigns import services as campaign_services
from apps.campaigns.models import Referral, ReferralState
from apps.members.models import Member, PointsAccount, PointsEntry
from apps.rules.models import EarningRule, RuleAward, RuleCounter
from tests.benefits.factories import BenefitFactory
from tests.campaigns.factories import CampaignFactory, SegmentFactory
from tests.core.factories import ApiClientFactory
from tests.members.factories import MemberFactory
from tests.members.test_concurrency import assert_books_balance, run_at_once
from tests.rules.factories import EarningRuleFactory, event, ingest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_two_batches_racing_for_a_daily_cap_pay_exactly_the_cap():
    EarningRuleFactory(kind="sign_in", points=10, cap_day_count=3, cap_day_points=25)
    member = MemberFactory()
    clients = [ApiClientFactory(), ApiClientFactory()]
    at = timezone.now() - timedelta(minutes=5)

    def batch(index: int) -> int:
        events = [event(member, at=at + timedelta(seconds=i), event_id=f"b{index}-{i}") for i in range(3)]
        return ingest(clients[index], *events)["points_awarded"]

    outcomes = run_at_once(batch, threads=2)
    assert sum(points * n for points, n in outcomes.items()) == 25
    account = PointsAccount.objects.get(member=member)
    assert account.balance == 25 == sum(PointsEntry.objects.filter(account=account).values_list("amount", flat=True))
    assert RuleAward.objects.count() == 3  # 10 + 10 + 5: the count cap and the points cap both hold
    assert RuleCounter.objects.get(member=member).count == 3


def test_many_batches_racing_for_a_budget_never_overspend():
    rule = EarningRuleFactory(kind="share", points=7, budget_points=50)
    members = MemberFactory.create_batch(8)
    clients = [ApiClientFactory() for _ in members]
    at = timezone.now() - timedelta(minutes=5)

    def batch(index: int) -> int:
        return ingest(clients[index], event(members[index], kind="share", at=at, event_id=f"s{index}"))["points_awarded"]

    outcomes = run_at_once(batch, threads=8)
    assert sum(points * n for points, n in outcomes.items()) == 50
    assert EarningRule.objects.get(pk=rule.pk).budget_used == 50
    assert sum(PointsAccount.objects.filter(member__in=members).values_list("balance", flat=True)) == 50


ROUNDS = 6
EVERYONE = {"op": "and", "conditions": [{"field": "status", "value": ["active"]}]}


def test_an_ingest_beside_a_campaign_chunk_on_the_same_member_and_benefit_never_deadlocks():
    """The ingest's purchase locks the member's account and its rule grants the benefit; the campaign chunk locks the
    benefit, then the account. The ingest leaves its grant pending, so the two only ever wait in one direction."""
    benefit = BenefitFactory()
    rule = EarningRuleFactory(kind="test_drive_booked", points=20, benefit=benefit)
    member = MemberFactory()
    client = ApiClientFactory()
    at = timezone.now() - timedelta(minutes=5)
    for round_ in range(ROUNDS):
        run = campaign_services.campaign_launch(
            campaign=CampaignFactory(benefit=benefit, points_amount=5, applies_frequency_cap=False, segment=SegmentFactory(rules=EVERYONE))
        )

        def work(index: int, run_id: int = run.pk, round_: int = round_) -> str:
            try:
                if index == 0:
                    answer = ingest(
                        client,
                        event(member, kind="purchase", at=at, amount="10.00", event_id=f"p{round_}"),
                        event(member, kind="test_drive_booked", at=at, event_id=f"t{round_}"),
                    )
                    return "ingested" if answer["created"] == 2 else f"created {answer['created']}"
                campaign_services.campaign_run_execute(run_id=run_id, chunk_size=10)
                return "ran"
            except Exception as exc:  # a deadlock (40P01) would surface here, and fail the assertion below
                return f"{type(exc).__name__}: {exc}"

        assert run_at_once(work, threads=2) == Counter({"ingested": 1, "ran": 1})
    assert grants_pending_issue().issued == ROUNDS
    grants = Grant.objects.filter(benefit=benefit, member=member)
    assert grants.filter(source=GrantSource.CAMPAIGN).count() == ROUNDS
    assert grants.filter(source=GrantSource.EARNING_RULE, source_ref__startswith=f"rule:{rule.pk}:").count() == ROUNDS
    assert Benefit.objects.get(pk=benefit.pk).issued_count == 2 * ROUNDS
    entries = PointsEntry.objects.filter(account__member=member)
    assert sum(entries.filter(source_ref__startswith="rule:").values_list("amount", flat=True)) == 20 * ROUNDS
    assert sum(entries.filter(source_ref__startswith="campaign-run:").values_list("amount", flat=True)) == 5 * ROUNDS
    assert entries.filter(source_ref__startswith="purchase:").count() == ROUNDS
    assert_books_balance(member)


def test_an_ingest_paying_growth_and_points_beside_a_campaign_chunk_on_the_same_members_never_deadlocks():
    """The rules pay growth value (members) and points (accounts) to two members whose events come in the opposite key
    order; the campaign chunk locks the same accounts with their members in key order. The store locks every member it
    pays with its account first, in the chunk's order, so the two only ever wait for each other in one direction."""
    EarningRuleFactory(kind="sign_in", points=10, growth=5)
    EarningRuleFactory(kind="share", points=7, growth=3)
    low, high = MemberFactory(), MemberFactory()
    client = ApiClientFactory()
    at = timezone.now() - timedelta(minutes=5)
    for round_ in range(ROUNDS):
        run = campaign_services.campaign_launch(
            campaign=CampaignFactory(points_amount=5, applies_frequency_cap=False, segment=SegmentFactory(rules=EVERYONE))
        )

        def work(index: int, run_id: int = run.pk, round_: int = round_) -> str:
            try:
                if index == 0:
                    answer = ingest(
                        client,
                        event(high, kind="share", at=at, event_id=f"h{round_}"),
                        event(low, kind="sign_in", at=at, event_id=f"l{round_}"),
                    )
                    return "ingested" if answer["points_awarded"] == 17 else f"awarded {answer['points_awarded']}"
                campaign_services.campaign_run_execute(run_id=run_id, chunk_size=10)
                return "ran"
            except Exception as exc:  # a deadlock (40P01) would surface here, and fail the assertion below
                return f"{type(exc).__name__}: {exc}"

        assert run_at_once(work, threads=2) == Counter({"ingested": 1, "ran": 1})
    for member, points, growth in ((low, 10, 5), (high, 7, 3)):
        entries = PointsEntry.objects.filter(account__member=member)
        assert sum(entries.filter(source_ref__startswith="rule:").values_list("amount", flat=True)) == points * ROUNDS
        assert sum(entries.filter(source_ref__startswith="campaign-run:").values_list("amount", flat=True)) == 5 * ROUNDS
        assert Member.objects.get(pk=member.pk).growth_value == growth * ROUNDS
        assert_books_balance(member)


def test_an_ingest_rewarding_a_referral_beside_a_campaign_chunk_on_the_referrer_and_referee_never_deadlocks():
    """A referee's first purchase rewards the referrer, who has the lower key; the campaign chunk locks both in key order.
    The store locks the referrer with the referee in its one ordered statement, before any reaction pays, so the two only
    ever wait for each other in one direction (before, the referral's reaction locked the referrer after the referee)."""
    client = ApiClientFactory()
    at = timezone.now() - timedelta(minutes=5)
    pairs = []
    for round_ in range(ROUNDS):
        referrer, referee = MemberFactory(), MemberFactory()
        campaign_services.referral_attach(referee=referee, code=campaign_services.referral_code_for(member=referrer).code)
        run = campaign_services.campaign_launch(
            campaign=CampaignFactory(points_amount=5, applies_frequency_cap=False, segment=SegmentFactory(rules=EVERYONE))
        )

        def work(index: int, run_id: int = run.pk, round_: int = round_, referee: Member = referee) -> str:
            try:
                if index == 0:
                    ingest(client, event(referee, kind="purchase", at=at, amount="100.00", event_id=f"first-purchase-{round_}"))
                    return "ingested"
                campaign_services.campaign_run_execute(run_id=run_id, chunk_size=10)
                return "ran"
            except Exception as exc:  # a deadlock (40P01) would surface here, and fail the assertion below
                return f"{type(exc).__name__}: {exc}"

        assert run_at_once(work, threads=2) == Counter({"ingested": 1, "ran": 1})
        pairs.append((referrer, referee))
    for referrer, referee in pairs:
        assert Referral.objects.get(referee=referee).state == ReferralState.REWARDED
        assert PointsEntry.objects.filter(account__member=referrer, source_ref__endswith=":referrer").count() == 1
        assert_books_balance(referrer)
        assert_books_balance(referee)
