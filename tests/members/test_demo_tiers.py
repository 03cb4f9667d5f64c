"""The demo's tier part: conditions on the top tiers, an invitation-only tier with assigned members, adjustments."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.members.models import AdjustmentState, GrowthAdjustment, Member, Tier, TierAssignment
from fixtures import demo, demo_tiers
from tests.analytics.factories import purchase
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_demo_tiers_use_spend_and_purchases_and_assign_ambassadors():
    demo._staff()
    members = [MemberFactory() for _ in range(8)]
    for index, member in enumerate(members):
        for _ in range(index % 4):
            purchase(member, timezone.now() - timedelta(days=5), "800.00")
    demo_tiers.load_tiers(random.Random(7))
    vip, gold = Tier.objects.get(code="vip"), Tier.objects.get(code="gold")
    assert (vip.min_purchases, vip.min_spend, gold.min_purchases) == (4, Decimal("5000.00"), 2)
    ambassador = Tier.objects.get(code="ambassador")
    assert ambassador.invitation_only and ambassador.name_zh_hans == "品牌大使"
    assigned = TierAssignment.objects.filter(tier=ambassador)
    assert 0 < assigned.count() <= 5
    assert set(Member.objects.filter(tier=ambassador).values_list("pk", flat=True)) == set(assigned.values_list("member_id", flat=True))
    states = set(GrowthAdjustment.objects.values_list("state", flat=True))
    assert states == {AdjustmentState.APPLIED, AdjustmentState.PENDING}
