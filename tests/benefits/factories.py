from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from apps.benefits.models import Benefit, BenefitCategory, BenefitKind, Grant, GrantSource, Redemption, RedemptionChannel, TierBenefit
from tests.members.factories import MemberFactory


class BenefitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Benefit

    name = factory.Sequence(lambda n: f"¥50 service voucher {n}")
    kind = BenefitKind.FIXED_COUPON
    category = BenefitCategory.ECONOMIC
    face_value = Decimal("50.00")
    unit_cost = Decimal("30.00")
    validity_days = 30


class GrantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Grant

    benefit = factory.SubFactory(BenefitFactory)
    member = factory.SubFactory(MemberFactory)
    source = GrantSource.STAFF
    valid_from = factory.LazyFunction(timezone.now)
    valid_until = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))


class RedemptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Redemption

    grant = factory.SubFactory(GrantFactory, state="redeemed")
    channel = RedemptionChannel.POS


class TierBenefitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TierBenefit

    benefit = factory.SubFactory(BenefitFactory)
    recurrence = "on_promotion"
