"""Real threads against PostgreSQL: two batches racing for one member's capped rule pay exactly the cap."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.members.models import PointsAccount, PointsEntry
from apps.rules.models import EarningRule, RuleAward, RuleCounter
from tests.core.factories import ApiClientFactory
from tests.members.factories import MemberFactory
from tests.members.test_concurrency import run_at_once
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
