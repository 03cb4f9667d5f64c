"""Purchase earning: the reaction members registers for a newly stored purchase."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.core.activity import HANDLERS, StoredActivity
from apps.members.earning import purchase_earn, purchase_points
from apps.members.models import GrowthEntry, PointsEntry
from apps.members.services import member_freeze
from tests.members.factories import MemberFactory, tier

pytestmark = pytest.mark.django_db


def stored_purchase(member, amount: str) -> StoredActivity:
    return StoredActivity(
        pk=1,
        member_id=member.pk,
        kind="purchase",
        event_id="order-9",
        source="client:1",
        occurred_at=datetime(2026, 3, 2, 2, tzinfo=UTC),
        amount=Decimal(amount),
        first_of_kind=True,
    )


def test_purchase_earning_is_registered_before_the_referral_qualification():
    assert HANDLERS["purchase"][0] is purchase_earn
    assert [handler.__name__ for handler in HANDLERS["purchase"]] == ["purchase_earn", "referral_qualify_on_first_purchase"]


def test_a_purchase_earns_points_by_the_tier_multiplier_and_growth_value():
    gold = tier("gold")
    gold.points_multiplier = Decimal("1.50")
    gold.save()
    member = MemberFactory(tier=gold)
    assert purchase_earn(stored_purchase(member, "99.99")) == 149  # 99.99 × 1.5, rounded down
    entry = PointsEntry.objects.get(account__member=member)
    assert (entry.amount, entry.source_ref) == (149, "purchase:client:1:order-9")
    assert GrowthEntry.objects.get(member=member).amount == 99


def test_a_purchase_too_small_to_earn_writes_nothing_and_a_frozen_member_earns_nothing():
    assert purchase_points(amount=Decimal("0.99"), multiplier=Decimal("1")) == (0, 0)
    small = MemberFactory()
    assert purchase_earn(stored_purchase(small, "0.50")) == 0
    frozen = member_freeze(member=MemberFactory(), reason="test")
    assert purchase_earn(stored_purchase(frozen, "100")) == 0
    assert not PointsEntry.objects.filter(account__member__in=[small, frozen]).exists()
    assert not GrowthEntry.objects.filter(member__in=[small, frozen]).exists()
